using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Storage;

/// <summary>A client's blob upload session: its repository and how many bytes it holds so far.</summary>
public sealed record UploadSession(string Id, string Repository, DateTimeOffset Created, long Length);

/// <summary>
/// Upload sessions that survive a restart: the row lives in SQLite, the bytes in <c>uploads/&lt;id&gt;/data</c>
/// (its length is the session's offset). Appends to one session are serialised. It works on the blob files
/// (<see cref="BlobStore"/>), the metadata database (<see cref="MetadataDatabase"/>, <see cref="MetadataSql"/>)
/// and commits a finished upload through <see cref="RepositoryBlobs"/>, like every other blob.
/// </summary>
public sealed class UploadSessionStore
{
    private readonly MetadataDatabase _db;
    private readonly BlobStore _blobs;
    private readonly RepositoryBlobs _links;
    private readonly DataLayout _layout;
    private readonly TimeProvider _time;
    private readonly StorageOptions _options;
    private readonly KeyedLock _locks = new();

    public UploadSessionStore(DataLayout layout, MetadataDatabase db, BlobStore blobs, RepositoryBlobs links, TimeProvider time, StorageOptions options)
    {
        _db = db;
        _blobs = blobs;
        _links = links;
        _layout = layout;
        _time = time;
        _options = options;
    }

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Opens a session in <paramref name="repository"/> for the client identity <paramref name="owner"/> (null when the
    /// registry has no identities: authentication off). Refused with <see cref="UploadSessionLimitException"/> past a cap:
    /// the repository's, the client's own, or the registry's.
    /// </summary>
    public async Task<UploadSession> CreateAsync(string repository, string? owner, CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(_layout.UploadDirectory(id));
        await File.WriteAllBytesAsync(_layout.UploadDataPath(id), [], cancellationToken);
        var now = Now;
        try
        {
            await _db.WriteAsync((c, t) =>
            {
                // Counted in the same write transaction as the insert: the caps hold under any number of concurrent POSTs.
                var inRepository = MetadataSql.CountUploads(c, t, repository);
                if (inRepository >= _options.UploadMaxSessionsPerRepository)
                {
                    throw new UploadSessionLimitException($"repository '{repository}' has {inRepository} open upload sessions, the most allowed; finish or cancel one, or wait for idle ones to expire");
                }

                if (owner is not null)
                {
                    // Before the total: one client at its own cap must not be told the whole registry is full.
                    var own = MetadataSql.CountUploadsOf(c, t, owner);
                    if (own >= _options.UploadMaxSessionsPerClient)
                    {
                        throw new UploadSessionLimitException($"'{owner}' has {own} open upload sessions, the most one client may have; finish or cancel one, or wait for idle ones to expire");
                    }
                }

                var total = MetadataSql.CountUploads(c, t, null);
                if (total >= _options.UploadMaxSessions)
                {
                    throw new UploadSessionLimitException($"the registry has {total} open upload sessions, the most allowed; try again later");
                }

                MetadataSql.EnsureRepository(c, t, repository, now);
                MetadataSql.InsertUpload(c, t, id, repository, owner, now);
            }, cancellationToken);
        }
        catch (UploadSessionLimitException)
        {
            TryDeleteDirectory(_layout.UploadDirectory(id));
            throw;
        }

        return new UploadSession(id, repository, DateTimeOffset.FromUnixTimeMilliseconds(now), 0);
    }

    /// <summary>
    /// True when open sessions are at 80 % or more of a cap (in total, in any one repository, or of any one client):
    /// then idle sessions are purged after <see cref="StorageOptions.UploadIdleAgeNearCap"/> instead of
    /// <see cref="StorageOptions.UploadMaxAge"/>.
    /// </summary>
    public bool NearCap()
    {
        var (total, busiest, busiestClient) = _db.Read(c => (MetadataSql.CountUploads(c, null, null), MetadataSql.MostUploadsInOneRepository(c), MetadataSql.MostUploadsOfOneOwner(c)));
        return total * 5 >= _options.UploadMaxSessions * 4L
            || busiest * 5 >= _options.UploadMaxSessionsPerRepository * 4L
            || busiestClient * 5 >= _options.UploadMaxSessionsPerClient * 4L;
    }

    /// <summary>The session when it exists and belongs to <paramref name="repository"/>, else null.</summary>
    public UploadSession? Get(string repository, string id)
    {
        if (!DataLayout.IsValidSessionId(id))
        {
            return null;
        }

        var row = _db.Read(c => MetadataSql.GetUpload(c, id));
        if (row is not { } found || found.Repository != repository)
        {
            return null;
        }

        var path = _layout.UploadDataPath(id);
        return File.Exists(path)
            ? new UploadSession(id, repository, DateTimeOffset.FromUnixTimeMilliseconds(found.Created), BlobStore.LengthOf(path))
            : null;
    }

    /// <summary>
    /// Appends a chunk. With <paramref name="rangeStart"/> (from <c>Content-Range</c>) it must equal the
    /// session's length, else <see cref="UploadRangeException"/>. With <paramref name="declaredLength"/> the body must
    /// carry exactly that many bytes, else <see cref="UploadSizeMismatchException"/> and nothing is kept. A session that
    /// is not there is <see cref="UploadSessionUnknownException"/>.
    /// </summary>
    public async Task<UploadSession> AppendAsync(UploadSession session, Stream content, long? rangeStart, long? declaredLength, CancellationToken cancellationToken)
    {
        using var _ = await _locks.AcquireAsync(session.Id, cancellationToken);
        var path = _layout.UploadDataPath(session.Id);
        if (!File.Exists(path))
        {
            throw new UploadSessionUnknownException();
        }

        var length = BlobStore.LengthOf(path);
        if (rangeStart is { } start && start != length)
        {
            throw new UploadRangeException(session, length, $"chunk starts at {start} but the upload holds {length} bytes");
        }

        long newLength;
        try
        {
            newLength = await _blobs.AppendAsync(path, content, declaredLength, cancellationToken);
        }
        catch (AppendLengthMismatchException ex)
        {
            throw new UploadSizeMismatchException(ex.Expected, ex.Actual);
        }

        var now = Now;
        await _db.WriteAsync((c, t) => MetadataSql.TouchUpload(c, t, session.Id, now), cancellationToken);
        return session with { Length = newLength };
    }

    /// <summary>
    /// Verifies the session's bytes against <paramref name="digest"/> and commits them as a blob of the session's
    /// repository; on a mismatch a <see cref="DigestMismatchException"/>, and the session is left as it was.
    /// </summary>
    public async Task<BlobInfo> CompleteAsync(UploadSession session, Digest digest, CancellationToken cancellationToken)
    {
        using var _ = await _locks.AcquireAsync(session.Id, cancellationToken);
        var path = _layout.UploadDataPath(session.Id);
        if (!File.Exists(path))
        {
            throw new UploadSessionUnknownException();
        }

        var actual = await _blobs.DigestOfAsync(path, digest.Algorithm, cancellationToken);
        if (actual != digest)
        {
            throw new DigestMismatchException(digest, actual, "provided digest did not match uploaded content");
        }

        var size = BlobStore.LengthOf(path);
        var info = await _links.CommitAsync(session.Repository, path, digest, size, cancellationToken);
        await DeleteCoreAsync(session.Id, cancellationToken);
        return info;
    }

    public async Task<bool> DeleteAsync(UploadSession session, CancellationToken cancellationToken)
    {
        using var _ = await _locks.AcquireAsync(session.Id, cancellationToken);
        return await DeleteCoreAsync(session.Id, cancellationToken);
    }

    /// <summary>Removes sessions idle for longer than <paramref name="maxAge"/> and folders no session owns.</summary>
    public async Task<int> PurgeAsync(TimeSpan maxAge, CancellationToken cancellationToken)
    {
        var cutoff = Now - (long)maxAge.TotalMilliseconds;
        var known = _db.Read(MetadataSql.ListUploads);
        var purged = 0;
        foreach (var (id, updated) in known)
        {
            if (updated < cutoff)
            {
                // The snapshot may be stale by the time the lock is ours: a chunk that was being appended has made
                // the session active again. Only a session still idle under the lock goes.
                using var _ = await _locks.AcquireAsync(id, cancellationToken);
                if (await DeleteCoreAsync(id, cancellationToken, idleBefore: cutoff))
                {
                    purged++;
                }
            }
        }

        if (Directory.Exists(_layout.UploadsDirectory))
        {
            foreach (var directory in Directory.GetDirectories(_layout.UploadsDirectory))
            {
                var id = Path.GetFileName(directory);
                if (!known.ContainsKey(id) && (!DataLayout.IsValidSessionId(id) || Directory.GetLastWriteTimeUtc(directory) < DateTime.UtcNow - TimeSpan.FromMinutes(1)))
                {
                    TryDeleteDirectory(directory);
                }
            }
        }

        return purged;
    }

    /// <param name="idleBefore">When set, the session is only deleted if its last activity is older than this (Unix ms).</param>
    private async Task<bool> DeleteCoreAsync(string id, CancellationToken cancellationToken, long? idleBefore = null)
    {
        var deleted = await _db.WriteAsync((c, t) => MetadataSql.DeleteUpload(c, t, id, idleBefore), cancellationToken);
        if (!deleted && idleBefore is not null)
        {
            return false; // active again (or already gone): its bytes stay
        }

        _blobs.Discard(_layout.UploadDataPath(id));
        TryDeleteDirectory(_layout.UploadDirectory(id));
        return deleted;
    }

    private static void TryDeleteDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (IOException)
        {
        }
    }
}
