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
    private readonly MetadataDatabase _db;
    private readonly BlobStore _blobs;
    private readonly IRegistrySettingsSource _settings;
    private readonly StorageOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<GarbageCollector> _logger;
    private readonly SemaphoreSlim _single = new(1, 1);

    public GarbageCollector(MetadataDatabase db, BlobStore blobs, IRegistrySettingsSource settings, StorageOptions options, TimeProvider time, ILogger<GarbageCollector> logger)
    {
        _db = db;
        _blobs = blobs;
        _settings = settings;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Raised after a run with what it removed.</summary>
    public event Action<GarbageCollectionResult>? Collected;

    /// <summary>Raised after blobs were deleted outside a run (<see cref="DeleteUnusedBlobsAsync(IEnumerable{Digest}, DateTimeOffset, CancellationToken)"/>): how many, how many bytes.</summary>
    public event Action<int, long>? BlobsDeleted;

    public async Task<GarbageCollectionResult> CollectAsync(CancellationToken cancellationToken)
    {
        await _single.WaitAsync(cancellationToken);
        try
        {
            var started = Stopwatch.GetTimestamp();
            var now = _time.GetUtcNow();
            var cutoff = (now - _options.GarbageCollectionGrace).ToUnixTimeMilliseconds();
            var manifestsDeleted = 0;

            if (_settings.Current.GarbageCollection.DeleteUntaggedManifests)
            {
                manifestsDeleted = await _db.WriteAsync((c, t) =>
                {
                    var total = 0;
                    int deleted;
                    do
                    {
                        deleted = MetadataSql.DeleteUnreferencedManifests(c, t, cutoff);
                        total += deleted;
                    }
                    while (deleted > 0);
                    return total;
                }, cancellationToken);
            }

            await _db.WriteAsync((c, t) => MetadataSql.DeleteUnreferencedLinks(c, t, cutoff), cancellationToken);

            var (blobsDeleted, bytesFreed) = await DeleteUnusedAsync(_blobs.Enumerate().Where(b => b.LastWriteUtc < now.UtcDateTime - _options.GarbageCollectionGrace).Select(b => (b.Digest, b.Size)), cancellationToken);
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

    /// <summary>
    /// Deletes the files of <paramref name="digests"/> that were written before <paramref name="graceStart"/> and that no
    /// link and no manifest uses, each decided in the serialised write as in a collection run (the eviction of content
    /// fetched on demand frees the blobs of the manifests it removed this way). The blobs and bytes deleted.
    /// </summary>
    public async Task<(int Blobs, long Bytes)> DeleteUnusedBlobsAsync(IEnumerable<Digest> digests, DateTimeOffset graceStart, CancellationToken cancellationToken)
    {
        var candidates = new List<(Digest, long)>();
        foreach (var digest in digests.Distinct())
        {
            var file = new FileInfo(_blobs.PathOf(digest));
            if (file.Exists && file.LastWriteTimeUtc < graceStart.UtcDateTime)
            {
                candidates.Add((digest, file.Length));
            }
        }

        var deleted = await DeleteUnusedAsync(candidates, cancellationToken);
        if (deleted.Blobs > 0)
        {
            BlobsDeleted?.Invoke(deleted.Blobs, deleted.Bytes);
        }

        return deleted;
    }

    /// <summary>Deletes the candidates' files that no link and no manifest uses, re-checked in the write.</summary>
    private async Task<(int Blobs, long Bytes)> DeleteUnusedAsync(IEnumerable<(Digest Digest, long Size)> blobs, CancellationToken cancellationToken)
    {
        var candidates = blobs.ToList();
        var blobsDeleted = 0;
        long bytesFreed = 0;
        foreach (var batch in candidates.Chunk(256))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (count, bytes) = await _db.WriteAsync((c, t) =>
            {
                var n = 0;
                long freed = 0;
                foreach (var (digest, size) in batch)
                {
                    if (!MetadataSql.IsBlobUsed(c, t, digest) && _blobs.Delete(digest))
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

        return (blobsDeleted, bytesFreed);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Garbage collection removed {Blobs} blobs ({Bytes} bytes) and {Manifests} manifests in {Milliseconds} ms")]
        public static partial void Collected(ILogger logger, int blobs, long bytes, int manifests, double milliseconds);
    }
}
