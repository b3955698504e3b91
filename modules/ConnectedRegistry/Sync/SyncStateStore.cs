using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Sync;

/// <summary>
/// What sync down itself set: for each (repository, tag) the digest last copied from the parent. A local tag
/// that differs from it was pushed by a client, so it is not removed when the parent drops the tag. And the tags
/// retention removed (<c>retired_tags</c>), which sync down does not copy again until they move at the parent.
/// Lives in its own SQLite file next to the registry database (<c>sync.db</c> in the data root).
/// </summary>
public sealed class SyncStateStore
{
    public const string FileName = SyncDatabase.FileName;
    private readonly SyncDatabase _db;

    public SyncStateStore(DataLayout layout)
    {
        _db = new SyncDatabase(layout, SyncSql.SyncedTagsSchema);
    }

    public IReadOnlyDictionary<string, Digest> SyncedTags(string repository)
    {
        using var connection = _db.Open();
        return SyncSql.SyncedTags(connection, repository);
    }

    public void SetSynced(string repository, string tag, Digest digest)
    {
        using var connection = _db.Open();
        SyncSql.SetSynced(connection, repository, tag, digest);
    }

    /// <summary>Tags retention removed here, with their digests then (sync down leaves them out while the parent's tag has that digest).</summary>
    public IReadOnlyDictionary<string, Digest> RetiredTags(string repository)
    {
        using var connection = _db.Open();
        return SyncSql.RetiredTags(connection, repository);
    }

    /// <summary>Marks tags retention is about to remove (marked first: a crash before the removal leaves a mark on a tag still here, which is harmless).</summary>
    public void Retire(IEnumerable<(string Repository, string Tag, Digest Digest)> tags)
    {
        using var connection = _db.Open();
        SyncSql.Retire(connection, tags);
    }

    public void Forget(string repository, string tag)
    {
        using var connection = _db.Open();
        SyncSql.ForgetSynced(connection, repository, tag);
    }
}
