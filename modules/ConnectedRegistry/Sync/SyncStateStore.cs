using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Sync;

/// <summary>
/// What sync down itself set: for each (repository, tag) the digest last copied from the parent. A local tag
/// that differs from it was pushed by a client, so it is not removed when the parent drops the tag.
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

    public void Forget(string repository, string tag)
    {
        using var connection = _db.Open();
        SyncSql.ForgetSynced(connection, repository, tag);
    }
}
