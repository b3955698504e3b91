using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Storage;

/// <summary>
/// Blob files and their links to repositories, changed together: a verified file is moved into place and
/// linked inside one metadata write, the same write garbage collection takes to delete a blob nothing uses, so
/// a blob being committed is never collected. Client uploads, direct writes and fetched blobs all commit here.
/// </summary>
public sealed class RepositoryBlobs
{
    private readonly MetadataDatabase _db;
    private readonly BlobStore _blobs;
    private readonly TimeProvider _time;

    public RepositoryBlobs(MetadataDatabase db, BlobStore blobs, TimeProvider time)
    {
        _db = db;
        _blobs = blobs;
        _time = time;
    }

    /// <summary>Raised after a blob file was created (not for an identical blob that already existed).</summary>
    public event Action<BlobInfo>? BlobCreated;

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>True when the blob is stored and belongs to <paramref name="repository"/>.</summary>
    public bool IsInRepository(string repository, Digest digest) =>
        _blobs.Exists(digest) && _db.Read(c => MetadataSql.IsLinked(c, null, repository, digest));

    /// <summary>Moves an already verified file into place and links it to <paramref name="repository"/>.</summary>
    public async Task<BlobInfo> CommitAsync(string repository, string verifiedPath, Digest digest, long size, CancellationToken cancellationToken)
    {
        var now = Now;
        var created = await _db.WriteAsync((c, t) =>
        {
            MetadataSql.EnsureRepository(c, t, repository, now);
            var isNew = _blobs.Commit(verifiedPath, digest);
            MetadataSql.UpsertLink(c, t, repository, digest, now);
            return isNew;
        }, cancellationToken);
        var info = new BlobInfo(digest, size);
        if (created)
        {
            BlobCreated?.Invoke(info);
        }

        return info;
    }

    /// <summary>Makes a stored blob part of a repository (a cross-repository mount). False when the blob is not stored.</summary>
    public Task<bool> LinkAsync(string repository, Digest digest, CancellationToken cancellationToken)
    {
        var now = Now;
        return _db.WriteAsync((c, t) =>
        {
            if (!_blobs.Exists(digest))
            {
                return false;
            }

            MetadataSql.EnsureRepository(c, t, repository, now);
            MetadataSql.UpsertLink(c, t, repository, digest, now);
            return true;
        }, cancellationToken);
    }

    /// <summary>Removes a blob from a repository (its bytes go when garbage collection finds nothing else uses them).</summary>
    public Task<bool> UnlinkAsync(string repository, Digest digest, CancellationToken cancellationToken) =>
        _db.WriteAsync((c, t) => MetadataSql.DeleteLink(c, t, repository, digest), cancellationToken);
}
