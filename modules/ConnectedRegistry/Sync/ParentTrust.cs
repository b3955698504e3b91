using System.Security.Cryptography.X509Certificates;
using ConnectedRegistry.Identity;

namespace ConnectedRegistry.Sync;

/// <summary>Roots to trust for the parent besides the system store and <c>PARENT_CA_FILE</c>.</summary>
public interface IParentTrustSource
{
    /// <summary>The extra roots, or null for none.</summary>
    Task<X509Certificate2Collection?> GetRootsAsync(CancellationToken cancellationToken);
}

/// <summary>
/// The IoT Edge trust bundle of the module's one identity (<see cref="ModuleIdentitySource"/>: from the workload
/// API, or <c>EdgeModuleCACertificateFile</c> with a connection string); none in standalone mode. On a nested
/// device the parent is reached through the parent device's API proxy, whose certificate chains to the edge CA
/// this bundle holds.
/// </summary>
public sealed partial class EdgeTrustBundleSource(ModuleIdentitySource identity, ILogger<EdgeTrustBundleSource> logger) : IParentTrustSource
{
    public async Task<X509Certificate2Collection?> GetRootsAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await identity.GetTrustedRootsAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or InvalidOperationException or ModuleConfigurationException or System.Security.Cryptography.CryptographicException)
        {
            Log.TrustBundleUnavailable(logger, ex.Message);
            return null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4080, Level = LogLevel.Warning, Message = "The IoT Edge trust bundle could not be read for the parent connection ({Reason}); only the system store and PARENT_CA_FILE are trusted")]
        public static partial void TrustBundleUnavailable(ILogger logger, string reason);
    }
}
