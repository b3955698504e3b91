using System.Collections.Concurrent;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Which manifests are here only because a client asked for them (on-demand fetch) and nothing else keeps them: the
/// cache that <see cref="OnDemandEviction"/> may empty when the data volume runs low. A manifest is marked when
/// <see cref="OnDemandFetch"/> stored it; the mark goes when a sync pass keeps it (its tag is one the sync set selects:
/// <see cref="TagSync"/>), when a client pushes or deletes it (a local push is never evicted), and when it is evicted.
/// Kept in <c>sync.db</c> (<c>on_demand</c>), mirrored in memory so that sync passes ask without a query per tag.
/// </summary>
public sealed class OnDemandContent : IRegistryEventSink
{
    private readonly SyncDatabase _db;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(string Repository, Digest Digest), long> _marked = new();

    public OnDemandContent(DataLayout layout, TimeProvider time)
    {
        _time = time;
        _db = new SyncDatabase(layout, SyncSql.OnDemandSchema);
        using var connection = _db.Open();
        foreach (var (repository, digest, fetched) in SyncSql.OnDemand(connection))
        {
            _marked[(repository, digest)] = fetched;
        }
    }

    /// <summary>How many manifests are marked.</summary>
    public int Count => _marked.Count;

    /// <summary>The marked manifests with when each was fetched.</summary>
    public IReadOnlyList<(string Repository, Digest Digest, DateTimeOffset Fetched)> All() =>
        [.. _marked.Select(m => (m.Key.Repository, m.Key.Digest, DateTimeOffset.FromUnixTimeMilliseconds(m.Value)))];

    public bool IsMarked(string repository, Digest digest) => _marked.ContainsKey((repository, digest));

    /// <summary>A manifest on-demand fetch just stored: evictable from now on, until something keeps it.</summary>
    public void Mark(string repository, Digest digest)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        using (var connection = _db.Open())
        {
            SyncSql.MarkOnDemand(connection, repository, digest, now);
        }

        _marked[(repository, digest)] = now;
    }

    /// <summary>Something else keeps the manifest now (sync, a client's push), or it is gone: no longer evictable.</summary>
    public void Forget(string repository, Digest digest)
    {
        if (!_marked.ContainsKey((repository, digest)))
        {
            return; // the common case of a sync pass: one lookup in memory, no query
        }

        using (var connection = _db.Open())
        {
            SyncSql.ForgetOnDemand(connection, repository, digest);
        }

        _marked.TryRemove((repository, digest), out _);
    }

    /// <summary>Drops the marks of the manifests evicted (or gone) together: one transaction of <c>sync.db</c> for a batch.</summary>
    public void Forget(IEnumerable<(string Repository, Digest Digest)> manifests)
    {
        var marked = manifests.Where(m => _marked.ContainsKey(m)).Distinct().ToList();
        if (marked.Count == 0)
        {
            return;
        }

        using (var connection = _db.Open())
        using (var transaction = connection.BeginTransaction())
        {
            SyncSql.ForgetOnDemand(connection, transaction, marked);
            transaction.Commit();
        }

        foreach (var manifest in marked)
        {
            _marked.TryRemove(manifest, out _);
        }
    }

    void IRegistryEventSink.ManifestPushed(string repository, Digest digest, string mediaType, string? tag) => Forget(repository, digest);

    void IRegistryEventSink.ManifestDeleted(string repository, Digest digest) => Forget(repository, digest);

    void IRegistryEventSink.TagDeleted(string repository, string tag)
    {
        // The manifest stays; it is still only here because a client asked for it.
    }
}
