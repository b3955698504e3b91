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

    /// <summary>Raised after blobs were deleted outside a run (<see cref="HeldCollector.DeleteUnusedBlobsAsync"/>): how many, how many bytes.</summary>
    public event Action<int, long>? BlobsDeleted;

    public Task<GarbageCollectionResult> CollectAsync(CancellationToken cancellationToken) =>
        ExclusiveAsync(held => held.CollectAsync(), cancellationToken);

    /// <summary>
    /// Runs <paramref name="work"/> holding the collector's run lock, the lock a collection holds from its start to its
    /// end: no collection runs meanwhile. Work that removes content and then frees its blobs (an eviction batch, a
    /// retention pass and its collection) does both under it through <paramref name="work"/>'s <see cref="HeldCollector"/>,
    /// so no collection deletes the blobs between the removal and the deletion, and what the work reports freed is
    /// exactly what it freed. The lock is taken before any database write and never the other way round.
    /// </summary>
    public async Task<T> ExclusiveAsync<T>(Func<HeldCollector, Task<T>> work, CancellationToken cancellationToken)
    {
        await _single.WaitAsync(cancellationToken);
        try
        {
            return await work(new HeldCollector(this, cancellationToken));
        }
        finally
        {
            _single.Release();
        }
    }

    private async Task<GarbageCollectionResult> CollectLockedAsync(CancellationToken cancellationToken)
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

        var deletedBlobs = await DeleteUnusedAsync(_blobs.Enumerate().Where(b => b.LastWriteUtc < now.UtcDateTime - _options.GarbageCollectionGrace).Select(b => (b.Digest, b.Size)), cancellationToken);
        var result = new GarbageCollectionResult(deletedBlobs.Count, deletedBlobs.Sum(b => b.Size), manifestsDeleted, Stopwatch.GetElapsedTime(started));
        Log.Collected(_logger, result.BlobsDeleted, result.BytesFreed, manifestsDeleted, result.Duration.TotalMilliseconds);
        Collected?.Invoke(result);
        return result;
    }

    /// <summary>
    /// Deletes the files of <paramref name="digests"/> that were written before <paramref name="graceStart"/> and that no
    /// link and no manifest uses, each decided in the serialised write as in a collection run (the eviction of content
    /// fetched on demand frees the blobs of the manifests it removed this way). The blobs deleted, with their sizes.
    /// </summary>
    private async Task<IReadOnlyList<(Digest Digest, long Size)>> DeleteUnusedBlobsLockedAsync(IEnumerable<Digest> digests, DateTimeOffset graceStart, CancellationToken cancellationToken)
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
        if (deleted.Count > 0)
        {
            BlobsDeleted?.Invoke(deleted.Count, deleted.Sum(b => b.Size));
        }

        return deleted;
    }

    /// <summary>Deletes the candidates' files that no link and no manifest uses, re-checked in the write; the ones deleted.</summary>
    private async Task<List<(Digest Digest, long Size)>> DeleteUnusedAsync(IEnumerable<(Digest Digest, long Size)> blobs, CancellationToken cancellationToken)
    {
        var deleted = new List<(Digest, long)>();
        foreach (var batch in blobs.Chunk(256))
        {
            cancellationToken.ThrowIfCancellationRequested();
            deleted.AddRange(await _db.WriteAsync((c, t) =>
            {
                var unused = MetadataSql.UnusedBlobs(c, t, batch.Select(b => b.Digest));
                return batch.Where(b => unused.Contains(b.Digest) && _blobs.Delete(b.Digest)).ToList();
            }, cancellationToken));
        }

        return deleted;
    }

    /// <summary>
    /// The collector while <see cref="ExclusiveAsync{T}"/> holds its run lock: a collection, or the deletion of the blob
    /// files an eviction left unused, run under the lock already held (valid only inside that call).
    /// </summary>
    public sealed class HeldCollector
    {
        private readonly GarbageCollector _collector;
        private readonly CancellationToken _cancellationToken;

        internal HeldCollector(GarbageCollector collector, CancellationToken cancellationToken)
        {
            _collector = collector;
            _cancellationToken = cancellationToken;
        }

        /// <summary>A collection run, as <see cref="CollectAsync(CancellationToken)"/>.</summary>
        public Task<GarbageCollectionResult> CollectAsync() => _collector.CollectLockedAsync(_cancellationToken);

        /// <summary>
        /// Deletes the files of <paramref name="digests"/> written before <paramref name="graceStart"/> that no link and
        /// no manifest uses, each decided in the serialised write as in a collection run; the blobs deleted, with sizes.
        /// </summary>
        public Task<IReadOnlyList<(Digest Digest, long Size)>> DeleteUnusedBlobsAsync(IEnumerable<Digest> digests, DateTimeOffset graceStart) =>
            _collector.DeleteUnusedBlobsLockedAsync(digests, graceStart, _cancellationToken);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Garbage collection removed {Blobs} blobs ({Bytes} bytes) and {Manifests} manifests in {Milliseconds} ms")]
        public static partial void Collected(ILogger logger, int blobs, long bytes, int manifests, double milliseconds);
    }
}
