using System.Diagnostics;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Storage;

/// <summary>
/// Removes what nothing needs any more, without racing pushes:
/// <list type="number">
/// <item>with <see cref="GarbageCollectionSettings.DeleteUntaggedManifests"/>: manifests no tag points at, no
/// index in the repository lists, and whose subject (if any) is gone, once older than the grace period;</item>
/// <item>repository↔blob links no manifest of that repository references, once older than the grace period
/// (a blob just uploaded for a manifest not pushed yet keeps its link);</item>
/// <item>blob files with no link and no manifest reference left, once older than the grace period.</item>
/// </list>
/// Each deletion decision is re-checked inside the same database write that blob commits and manifest
/// puts go through, so a concurrent push either sees the blob gone or keeps it.
/// </summary>
public sealed partial class GarbageCollector : IGarbageCollector
{
    private readonly RegistryStore _store;
    private readonly IRegistrySettingsSource _settings;
    private readonly StorageOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<GarbageCollector> _logger;
    private readonly SemaphoreSlim _single = new(1, 1);

    public GarbageCollector(RegistryStore store, IRegistrySettingsSource settings, StorageOptions options, TimeProvider time, ILogger<GarbageCollector> logger)
    {
        _store = store;
        _settings = settings;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Raised after a run with what it removed.</summary>
    public event Action<GarbageCollectionResult>? Collected;

    public async Task<GarbageCollectionResult> CollectAsync(CancellationToken cancellationToken)
    {
        await _single.WaitAsync(cancellationToken);
        try
        {
            var started = Stopwatch.GetTimestamp();
            var now = _time.GetUtcNow();
            var cutoff = (now - _options.GarbageCollectionGrace).ToUnixTimeMilliseconds();
            var manifestsDeleted = 0;
            var db = _store.Database;

            if (_settings.Current.GarbageCollection.DeleteUntaggedManifests)
            {
                manifestsDeleted = await db.WriteAsync((c, t) =>
                {
                    var total = 0;
                    int deleted;
                    do
                    {
                        deleted = c.Execute(
                            """
                            DELETE FROM manifests AS m
                            WHERE m.created < $cutoff
                              AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository = m.repository AND t.digest = m.digest)
                              AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repository = m.repository AND r.target = m.digest AND r.kind = 1)
                              AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository = m.repository AND s.digest = m.subject))
                            """,
                            t,
                            ("$cutoff", cutoff));
                        total += deleted;
                    }
                    while (deleted > 0);
                    return total;
                }, cancellationToken);
            }

            await db.WriteAsync((c, t) => c.Execute(
                """
                DELETE FROM blob_links AS l
                WHERE l.created < $cutoff
                  AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repository = l.repository AND r.target = l.digest AND r.kind = 0)
                """,
                t,
                ("$cutoff", cutoff)), cancellationToken);

            var graceStart = now.UtcDateTime - _options.GarbageCollectionGrace;
            var candidates = _store.Blobs.Enumerate().Where(b => b.LastWriteUtc < graceStart).ToList();
            var blobsDeleted = 0;
            long bytesFreed = 0;
            foreach (var batch in candidates.Chunk(256))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var (count, bytes) = await db.WriteAsync((c, t) =>
                {
                    var n = 0;
                    long freed = 0;
                    foreach (var (digest, size, _) in batch)
                    {
                        var text = digest.ToString();
                        var used = c.Scalar("SELECT 1 FROM blob_links WHERE digest=$d LIMIT 1", t, ("$d", text)) is not null
                            || c.Scalar("SELECT 1 FROM manifest_refs WHERE target=$d AND kind=0 LIMIT 1", t, ("$d", text)) is not null;
                        if (!used && _store.Blobs.Delete(digest))
                        {
                            n++;
                            freed += size;
                        }
                    }

                    return (n, freed);
                }, cancellationToken);
                blobsDeleted += count;
                bytesFreed += bytes;
            }

            var result = new GarbageCollectionResult(blobsDeleted, bytesFreed, manifestsDeleted, Stopwatch.GetElapsedTime(started));
            Log.Collected(_logger, blobsDeleted, bytesFreed, manifestsDeleted, result.Duration.TotalMilliseconds);
            Collected?.Invoke(result);
            return result;
        }
        finally
        {
            _single.Release();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Garbage collection removed {Blobs} blobs ({Bytes} bytes) and {Manifests} manifests in {Milliseconds} ms")]
        public static partial void Collected(ILogger logger, int blobs, long bytes, int manifests, double milliseconds);
    }
}
