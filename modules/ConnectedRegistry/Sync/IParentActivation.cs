using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Asked by every sync pass, before anything else, whether this instance holds the registry's identity at the parent
/// (Hierarchy/ implements it with the activation handshake). Throws <see cref="ActivationRefusedException"/> when this
/// instance must not sync; network errors propagate as usual (the parent is unreachable).
/// </summary>
public interface IParentActivation
{
    /// <param name="clientOptions">The options of the sync client for this parent (its TLS trust included).</param>
    Task EnsureActiveAsync(RegistrySettings settings, Uri parent, ParentCredentials? credentials, ParentClientOptions clientOptions, CancellationToken cancellationToken);
}

/// <summary>This instance may not sync: the identity is active elsewhere, the parent refused it, or it was deactivated.</summary>
public sealed class ActivationRefusedException(string message, bool deactivated) : Exception(message)
{
    /// <summary>True when the operator deactivated this instance (reported Offline, not Unhealthy).</summary>
    public bool Deactivated { get; } = deactivated;
}
