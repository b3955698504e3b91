namespace ConnectedRegistry.Sync;

/// <summary>
/// The data volume is below <c>storage.minFreeBytes</c>: sync down does not start (sync up, which only reads, still
/// runs). The scheduler reports <c>Unhealthy</c>; the status detail <c>DiskFull</c> with the free bytes is the
/// free-space guard's. The next pass after space returns runs as usual.
/// </summary>
public sealed class StorageFullException(string message) : Exception(message);
