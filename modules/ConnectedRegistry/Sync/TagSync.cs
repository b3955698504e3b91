using System.Diagnostics;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Brings one repository's tags in line with the parent's: lists the parent's tags, HEADs each one held here to compare
/// digests (the first <see cref="SyncOptions.ParallelTags"/> of them while the list is asked for) and GETs each one not
/// held here by tag (at most <see cref="SyncOptions.ParallelTags"/> at a time), copies what moved through <see cref="ManifestGraphSync"/>,
/// then removes tags gone from the parent, or counted out by a filter's <c>newest</c>, that sync put here (every tag,
/// in a ReadOnly registry; the parent is never touched). A tag a local
/// push is still delivering is left alone. A failure of one tag (or of the listing) is counted and the others go
/// on; an unreachable parent or a disk error ends the pass.
/// </summary>
public sealed partial class TagSync
{
    private readonly ISyncDestination _local;
    private readonly ManifestGraphSync _graph;
    private readonly SyncStateStore _syncState;
    private readonly IPendingPushes _pending;
    private readonly SyncOptions _options;
    private readonly ILogger _logger;
    private readonly ISyncChangeSink[] _changes;
    private readonly OnDemandContent? _onDemand;

    /// <param name="onDemand">The marks of content fetched on demand: a tag the sync set selects keeps its manifest (no longer evictable).</param>
    public TagSync(ISyncDestination local, ManifestGraphSync graph, SyncStateStore syncState, IPendingPushes pending, SyncOptions options, ILogger logger, IEnumerable<ISyncChangeSink>? changes = null, OnDemandContent? onDemand = null)
    {
        _onDemand = onDemand;
        _local = local;
        _graph = graph;
        _syncState = syncState;
        _pending = pending;
        _options = options;
        _logger = logger;
        _changes = [.. changes ?? []];
    }

    public async Task SyncRepositoryAsync(SyncPass pass, string repository)
    {
        var started = Stopwatch.GetTimestamp();
        var counts = pass.Meter.BeginRepository();
        var local = _local.Tags(repository);
        var synced = _syncState.SyncedTags(repository);
        var heads = LocalTagHeads.Start(pass, repository, local.Keys, tag => synced.GetValueOrDefault(tag) == local[tag] && !_pending.HasPendingTag(repository, tag), _options.ParallelTags);
        List<string>? parentTags;
        try
        {
            parentTags = await ListParentTagsAsync(pass, repository);
        }
        catch
        {
            heads.Abandon();
            throw;
        }

        if (parentTags is null)
        {
            heads.Abandon();
            return;
        }

        var retired = _syncState.RetiredTags(repository);
        var selections = pass.SelectTags(repository, parentTags);
        var (updated, failed) = await SyncTagsAsync(pass, repository, parentTags, selections, local, synced, retired, heads);
        heads.Abandon(); // the tags gone from the parent or not selected
        var removed = await RemoveGoneTagsAsync(pass, repository, parentTags, selections, local, synced);
        pass.Meter.TagsChanged(updated, removed);
        if (updated + removed + failed > 0)
        {
            Log.RepositorySynced(_logger, repository, parentTags.Count, updated, removed, failed,
                counts.ManifestsStored, counts.BlobsFetched, counts.BytesDownloaded, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
        else
        {
            Log.RepositoryUnchanged(_logger, repository, parentTags.Count);
        }
    }

    /// <summary>The parent's valid tags, or null when this repository alone cannot be listed (counted as a failure).</summary>
    private async Task<List<string>?> ListParentTagsAsync(SyncPass pass, string repository)
    {
        try
        {
            var listed = await pass.Parent.ListTagsAsync(repository, pass.Cancellation);
            return [.. (listed ?? []).Where(Tag.IsValid).Distinct(StringComparer.Ordinal)];
        }
        catch (Exception ex) when (ex is ParentRegistryException or ParentContentException or Newtonsoft.Json.JsonException && !ParentFailure.IsUnreachable(ex))
        {
            // no read permission, a name the parent refuses, a bad listing: the other repositories go on
            pass.Meter.Failures.Enqueue($"{repository}: {ex.Message}");
            Log.RepositoryFailed(_logger, repository, ex.Message);
            return null;
        }
    }

    private async Task<(int Updated, int Failed)> SyncTagsAsync(SyncPass pass, string repository, List<string> parentTags, Dictionary<string, TagSelection> selections, IReadOnlyDictionary<string, Digest> local, IReadOnlyDictionary<string, Digest> synced, IReadOnlyDictionary<string, Digest> retired, LocalTagHeads heads)
    {
        var updated = 0;
        var failed = 0;
        using var tagSlots = new SemaphoreSlim(Math.Max(1, _options.ParallelTags));
        var selected = SelectTags(repository, parentTags, selections);
        await Task.WhenAll(selected.Select(async item =>
        {
            var (tag, platforms) = item;
            await tagSlots.WaitAsync(pass.Cancellation);
            try
            {
                if (await SyncTagAsync(pass, repository, tag, platforms, local.TryGetValue(tag, out var l) ? l : null, synced.TryGetValue(tag, out var s) ? s : null, retired.TryGetValue(tag, out var r) ? r : null, heads))
                {
                    Interlocked.Increment(ref updated);
                }
            }
            catch (Exception ex) when (!ParentFailure.IsUnreachable(ex) && ex is not OperationCanceledException and not LocalStorageException and not StorageFullException)
            {
                Interlocked.Increment(ref failed);
                pass.Meter.Failures.Enqueue($"{repository}:{tag}: {ex.Message}");
                Log.TagFailed(_logger, repository, tag, ex.Message);
            }
            finally
            {
                tagSlots.Release();
            }
        }));
        return (updated, failed);
    }

    /// <summary>
    /// The parent's tags the pass's filters select, each with the platforms it is synced for. A tag they do not select
    /// is left as it is here (content synced before stays; removal still follows the parent's whole tag list), except
    /// one older than a <c>newest</c> count keeps (removed by <see cref="RemoveGoneTagsAsync"/>).
    /// </summary>
    private List<(string Tag, PlatformFilter Platforms)> SelectTags(string repository, List<string> parentTags, Dictionary<string, TagSelection> selections)
    {
        var selected = new List<(string, PlatformFilter)>(parentTags.Count);
        foreach (var tag in parentTags)
        {
            var selection = selections[tag];
            if (selection.IsSelected)
            {
                selected.Add((tag, selection.Platforms));
            }
            else if (selection.Match == TagMatch.TimedOut)
            {
                Log.TagFilterTimedOut(_logger, repository, tag, SyncFilter.MatchTimeout.TotalMilliseconds);
            }
        }

        if (selected.Count < parentTags.Count)
        {
            Log.TagsFiltered(_logger, repository, parentTags.Count - selected.Count, parentTags.Count);
        }

        return selected;
    }

    /// <summary>Brings one tag up to date; true when it moved. A tag retention removed here stays away while the parent's has the digest it had.</summary>
    private async Task<bool> SyncTagAsync(SyncPass pass, string repository, string tag, PlatformFilter platforms, Digest? localDigest, Digest? syncedDigest, Digest? retiredDigest, LocalTagHeads heads)
    {
        if (_pending.HasPendingTag(repository, tag))
        {
            return false; // a local push of this tag waits for delivery: it wins until it reached the parent
        }

        if (localDigest is null && retiredDigest is null)
        {
            // Not here, not kept away by retention: whatever its digest, its manifest is wanted, so it is asked for by tag
            // at once (a HEAD first cost one round trip more per new tag: 0.6 s on a satellite link).
            var wanted = await pass.Parent.GetManifestAsync(repository, tag, pass.Cancellation);
            if (wanted is null)
            {
                return false; // removed between listing and now
            }

            await StoreTagAsync(pass, repository, tag, wanted, platforms);
            Kept(repository, wanted.Digest);
            return true;
        }

        var head = await (heads.Take(tag) ?? pass.Parent.HeadManifestAsync(repository, tag, pass.Cancellation));
        if (head is null)
        {
            return false; // removed between listing and now: the next pass removes it here too
        }

        if (retiredDigest == head.Digest && localDigest != head.Digest)
        {
            return false; // removed here by retention (storage.retention); it comes back when it moves at the parent or a client pulls it
        }

        if (localDigest == head.Digest)
        {
            if (syncedDigest != head.Digest)
            {
                RegistryDestination.Local(() => _syncState.SetSynced(repository, tag, head.Digest));
            }

            Kept(repository, head.Digest); // fetched on demand before, selected by the sync set now

            await _graph.CompleteAsync(pass, repository, head.Digest, platforms); // entries a wider filter selects now
            await _graph.SyncReferrersAsync(pass, repository, head.Digest, 0);
            return false;
        }

        var manifest = await pass.Parent.GetManifestAsync(repository, head.Digest.ToString(), pass.Cancellation)
            ?? throw new ParentContentException($"manifest {head.Digest} vanished from the parent");
        await StoreTagAsync(pass, repository, tag, manifest, platforms);
        Kept(repository, manifest.Digest);
        return true;
    }

    /// <summary>A manifest a tag of the sync set points at is kept by sync: no longer evictable as fetched on demand.</summary>
    private void Kept(string repository, Digest digest)
    {
        if (_onDemand?.IsMarked(repository, digest) == true)
        {
            RegistryDestination.Local(() => _onDemand.Forget(repository, digest));
        }
    }

    /// <summary>
    /// Stores <paramref name="manifest"/> with everything it references and points <paramref name="tag"/> at it, as
    /// synced content: recorded as set by sync (a later sync down moves it, or removes it once the parent has it no
    /// more; sync up never pushes it), told to the change sinks (children learn of it), then its referrers. Sync down
    /// and on-demand fetch both end here. An index keeps only the entries <paramref name="platforms"/> selects.
    /// </summary>
    /// <param name="onDemand">A client asked for it (on-demand fetch): marked as fetched on demand as soon as it is
    /// stored, before anything else, so that a pass that sees the tag also sees the mark and leaves a tag outside a
    /// <c>newest</c> count to eviction (<see cref="RemoveGoneTagsAsync"/>).</param>
    public async Task StoreTagAsync(SyncPass pass, string repository, string tag, ManifestContent manifest, PlatformFilter platforms, bool onDemand = false)
    {
        await _graph.StoreAsync(pass, repository, manifest, tag, platforms);
        if (onDemand && _onDemand is { } content)
        {
            RegistryDestination.Local(() => content.Mark(repository, manifest.Digest));
        }

        RegistryDestination.Local(() => _syncState.SetSynced(repository, tag, manifest.Digest));
        Changed(sink => sink.TagSynced(repository, tag, manifest.Digest));
        await _graph.SyncReferrersAsync(pass, repository, manifest.Digest, 0);
    }

    /// <summary>
    /// Tags gone from the parent, and tags the parent still has but no filter's <c>newest</c> count keeps any more:
    /// removes the ones sync put there (in a ReadOnly registry every tag came from sync). Their content is left to
    /// garbage collection, as any untagged content; the parent is not touched. A tag outside the count that a client
    /// fetched on demand (its manifest still marked, <see cref="OnDemandContent"/>) stays: it is the on-demand cache's,
    /// which eviction empties least recently pulled first, so the client that pulled it can pull it again offline
    /// until then. Gone from the parent, it goes like any synced tag.
    /// </summary>
    private async Task<int> RemoveGoneTagsAsync(SyncPass pass, string repository, List<string> parentTags, Dictionary<string, TagSelection> selections, IReadOnlyDictionary<string, Digest> local, IReadOnlyDictionary<string, Digest> synced)
    {
        var removed = 0;
        var kept = parentTags.Where(t => selections[t].Match != TagMatch.NotNewest).ToHashSet(StringComparer.Ordinal);
        foreach (var (tag, digest) in local)
        {
            if (kept.Contains(tag) || _pending.HasPendingTag(repository, tag))
            {
                continue;
            }

            if (selections.TryGetValue(tag, out var selection) && selection.Match == TagMatch.NotNewest && _onDemand?.IsMarked(repository, digest) == true)
            {
                continue; // fetched on demand, outside the newest N: evicted when space runs low, not by this pass
            }

            var fromSync = synced.TryGetValue(tag, out var syncedDigest) && syncedDigest == digest;
            if (fromSync || pass.Mode == RegistryMode.ReadOnly)
            {
                var wasHere = await _local.RemoveTagAsync(repository, tag, pass.Cancellation);
                RegistryDestination.Local(() => _syncState.Forget(repository, tag));

                // A tag gone already was evicted since the pass read the tags: no removal of sync's, not counted, and
                // children are not told (they are not of evictions: the content is still above).
                if (wasHere)
                {
                    Changed(sink => sink.TagRemoved(repository, tag));
                    removed++;
                }
            }
        }

        return removed;
    }

    /// <summary>Tells the change sinks (the change feed for children) about a tag sync moved; they must not throw, but never fail a pass.</summary>
    private void Changed(Action<ISyncChangeSink> notify)
    {
        foreach (var sink in _changes)
        {
            try
            {
                notify(sink);
            }
            catch (Exception ex)
            {
                Log.ChangeSinkFailed(_logger, ex, sink.GetType().Name);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4040, Level = LogLevel.Information, Message = "Synced {Repository}: {Tags} tags at the parent, {Updated} updated, {Removed} removed, {Failed} failed; {Manifests} manifests, {Blobs} blobs, {Bytes} bytes in {Seconds:0.0} s")]
        public static partial void RepositorySynced(ILogger logger, string repository, int tags, int updated, int removed, int failed, int manifests, int blobs, long bytes, double seconds);

        [LoggerMessage(EventId = 4047, Level = LogLevel.Debug, Message = "{Repository} is up to date ({Tags} tags)")]
        public static partial void RepositoryUnchanged(ILogger logger, string repository, int tags);

        [LoggerMessage(EventId = 4048, Level = LogLevel.Error, Message = "Sync change sink {Sink} failed")]
        public static partial void ChangeSinkFailed(ILogger logger, Exception exception, string sink);

        [LoggerMessage(EventId = 4041, Level = LogLevel.Warning, Message = "Could not sync {Repository}:{Tag}: {Reason}")]
        public static partial void TagFailed(ILogger logger, string repository, string tag, string reason);

        [LoggerMessage(EventId = 4120, Level = LogLevel.Debug, Message = "{Repository}: {Filtered} of {Tags} tags at the parent are not selected by the tag filters")]
        public static partial void TagsFiltered(ILogger logger, string repository, int filtered, int tags);

        [LoggerMessage(EventId = 4121, Level = LogLevel.Warning, Message = "The tag filter of {Repository} ran out of time ({Milliseconds} ms) on tag {Tag}; the tag is not synced")]
        public static partial void TagFilterTimedOut(ILogger logger, string repository, string tag, double milliseconds);

        [LoggerMessage(EventId = 4049, Level = LogLevel.Warning, Message = "Could not list the tags of {Repository} at the parent: {Reason}")]
        public static partial void RepositoryFailed(ILogger logger, string repository, string reason);
    }
}

/// <summary>
/// HEADs of the tags sync put in a repository (no local push of them waiting) sent while its tag list is asked for (at
/// most a few, in name order): a repository
/// whose tags did not move costs one round trip instead of two (the list, then the HEADs), which halves a no-change
/// pass over many small repositories. A tag gone from the parent just answers 404 here; its removal is still decided
/// by the list. The ones not taken are observed when abandoned, so a failure no one awaits is not left unobserved.
/// </summary>
internal sealed class LocalTagHeads
{
    private readonly Dictionary<string, Task<ManifestInfo?>> _heads;

    private LocalTagHeads(Dictionary<string, Task<ManifestInfo?>> heads)
    {
        _heads = heads;
    }

    public static LocalTagHeads Start(SyncPass pass, string repository, IEnumerable<string> tags, Func<string, bool> eligible, int count) =>
        new(tags.Order(StringComparer.Ordinal).Where(eligible).Take(Math.Max(0, count))
            .ToDictionary(tag => tag, tag => pass.Parent.HeadManifestAsync(repository, tag, pass.Cancellation), StringComparer.Ordinal));

    /// <summary>The HEAD sent for <paramref name="tag"/>, once; null when none was.</summary>
    public Task<ManifestInfo?>? Take(string tag)
    {
        lock (_heads)
        {
            return _heads.Remove(tag, out var head) ? head : null;
        }
    }

    /// <summary>The HEADs not taken: their outcome is observed and dropped.</summary>
    public void Abandon()
    {
        lock (_heads)
        {
            foreach (var head in _heads.Values)
            {
                _ = head.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            _heads.Clear();
        }
    }
}
