using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The parent's upload sessions that sync up has open, per parent endpoint, repository and digest, with the bytes the
/// parent confirmed: kept in <c>sync.db</c> (<c>upload_sessions</c>) so a blob upload broken by a drop, the end of a
/// pass or a restart of the module continues the same session instead of starting again from byte 0. A record goes
/// when the blob is complete, when the parent says the session is gone, or when it was not used for
/// <see cref="MaxIdle"/> (the parent has long purged it: CNCF distribution after a week, this module after a day).
/// </summary>
public sealed class ParentUploadSessions
{
    public static readonly TimeSpan MaxIdle = TimeSpan.FromDays(7);
    private readonly SyncDatabase _db;
    private readonly TimeProvider _time;

    public ParentUploadSessions(DataLayout layout, TimeProvider time)
    {
        _db = new SyncDatabase(layout, SyncSql.UploadSessionsSchema);
        _time = time;
    }

    public ParentUpload? Find(Uri parent, string repository, Digest digest)
    {
        using var connection = _db.Open();
        return SyncSql.FindUpload(connection, parent.ToString(), repository, digest);
    }

    public void Save(Uri parent, string repository, Digest digest, ParentUpload upload) =>
        RegistryDestination.Local(() =>
        {
            using var connection = _db.Open();
            SyncSql.SaveUpload(connection, parent.ToString(), repository, digest, upload, _time.GetUtcNow().ToUnixTimeMilliseconds());
        });

    public void Forget(Uri parent, string repository, Digest digest) =>
        RegistryDestination.Local(() =>
        {
            using var connection = _db.Open();
            SyncSql.ForgetUpload(connection, parent.ToString(), repository, digest);
        });

    /// <summary>Drops records not used for <see cref="MaxIdle"/>; returns how many.</summary>
    public int ForgetIdle()
    {
        var removed = 0;
        RegistryDestination.Local(() =>
        {
            using var connection = _db.Open();
            removed = SyncSql.ForgetUploadsBefore(connection, (_time.GetUtcNow() - MaxIdle).ToUnixTimeMilliseconds());
        });
        return removed;
    }
}
