namespace ConnectedRegistry.Sync;

/// <summary>
/// The data volume is below <c>storage.minFreeBytes</c>: sync down does not start, and a pass under way stops before
/// its next blob download (sync up, which only reads, still runs). The scheduler reports <c>Unhealthy</c>; the status
/// detail <c>DiskFull</c> with the free bytes is the free-space guard's. The next pass after space returns runs as usual.
/// </summary>
public sealed class StorageFullException(string message) : Exception(message)
{
    /// <summary>Sync down pausing for the reading <paramref name="check"/> of the guard.</summary>
    public static StorageFullException Paused(Storage.SpaceCheck check) => new("sync down paused: " + check.Describe());
}
