using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>One sync pass with the parent (down, then up), run by <see cref="SyncScheduler"/> inside a window.</summary>
public interface ISyncWork
{
    /// <summary>True when <paramref name="settings"/> (and the environment) name a parent to sync with.</summary>
    bool IsConfigured(RegistrySettings settings);

    /// <summary>
    /// Runs one pass. Cancellation means the window closed or the module stops: stop cleanly, keeping what is
    /// complete (and partial blobs, to resume). Throws when the parent is unreachable or refuses.
    /// </summary>
    Task RunAsync(RegistrySettings settings, CancellationToken cancellationToken);
}
