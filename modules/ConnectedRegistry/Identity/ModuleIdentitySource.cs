using System.Security.Cryptography.X509Certificates;

namespace ConnectedRegistry.Identity;

/// <summary>
/// The module's one identity, read from its environment once (<see cref="ModuleIdentityFactory"/>) and shared by
/// everything that speaks for the module: the twin's client (edgeHub), the HTTPS certificate (the workload API)
/// and sync's trust in the edge CA (the trust bundle). Null in standalone mode. Owns the workload API client.
/// </summary>
public sealed class ModuleIdentitySource : IDisposable
{
    private readonly Lazy<ModuleIdentity?> _identity;

    public ModuleIdentitySource(ModuleEnvironment environment, TimeProvider time)
    {
        Environment = environment;
        _identity = new(() => ModuleIdentityFactory.Create(environment, time), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The environment the identity is read from.</summary>
    public ModuleEnvironment Environment { get; }

    /// <summary>True when the environment asks for IoT Edge mode (a connection string or any IOTEDGE_* identity variable).</summary>
    public bool IsConfigured => ModuleIdentityFactory.IsConfigured(Environment);

    /// <summary>The identity, or null in standalone mode (created on first use, then always the same one).</summary>
    /// <exception cref="ModuleConfigurationException">A variable is missing or malformed; the message names it.</exception>
    public ModuleIdentity? Identity => _identity.Value;

    /// <summary>
    /// The IoT Edge trust bundle (the workload API's, or <c>EdgeModuleCACertificateFile</c> with a connection
    /// string); null in standalone mode or when the identity names no roots.
    /// </summary>
    public Task<X509Certificate2Collection?> GetTrustedRootsAsync(CancellationToken cancellationToken) =>
        Identity?.GetTrustedRootsAsync(cancellationToken) ?? Task.FromResult<X509Certificate2Collection?>(null);

    public void Dispose()
    {
        if (_identity.IsValueCreated)
        {
            try
            {
                _identity.Value?.Workload?.Dispose();
            }
            catch (ModuleConfigurationException)
            {
                // Never created: nothing to dispose.
            }
        }
    }
}
