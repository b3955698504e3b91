using ConnectedRegistry.Oci;
using Microsoft.Data.Sqlite;
using Newtonsoft.Json;

namespace ConnectedRegistry.Storage;

/// <summary>
/// The registry's storage facade: blobs, manifests, tags, repositories and referrers. The Distribution
/// API and the sync engine both write through it. Writes made here directly raise no
/// <see cref="Hosting.IRegistryEventSink"/> event (only the Distribution API reports client pushes).
/// Errors a caller can act on are <see cref="OciException"/>s with the matching OCI code
/// (<c>DIGEST_INVALID</c>, <c>MANIFEST_INVALID</c>, <c>MANIFEST_BLOB_UNKNOWN</c>, <c>MANIFEST_UNKNOWN</c>).
/// Repository names and tags must be valid (<see cref="RepositoryName"/>, <see cref="Tag"/>); they are checked.
/// </summary>
public sealed class RegistryStore
{
    /// <summary>The largest manifest accepted (4 MiB, as the OCI distribution spec recommends).</summary>
    public const int MaxManifestBytes = 4 * 1024 * 1024;

    private const int KindBlob = 0;
    private const int KindManifest = 1;

    private readonly MetadataDatabase _db;
    private readonly BlobStore _blobs;
    private readonly TimeProvider _time;
    private readonly KeyedLock _partialLocks = new();

    public RegistryStore(DataLayout layout, MetadataDatabase db, BlobStore blobs, TimeProvider time)
    {
        Layout = layout;
        _db = db;
        _blobs = blobs;
        _time = time;
    }

    public DataLayout Layout { get; }

    internal MetadataDatabase Database => _db;

    internal BlobStore Blobs => _blobs;

    /// <summary>Raised after a blob file was created (not for an identical blob that already existed).</summary>
    public event Action<BlobInfo>? BlobCreated;

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    // ---- blobs -------------------------------------------------------------------------------

    /// <summary>True when the blob's bytes are stored (in any repository).</summary>
    public bool BlobExists(Digest digest) => _blobs.Exists(digest);

    public long? GetBlobSize(Digest digest) => _blobs.Size(digest);

    /// <summary>True when the blob is stored and belongs to <paramref name="repository"/>.</summary>
    public bool IsBlobInRepository(string repository, Digest digest) =>
        _blobs.Exists(digest) && _db.Read(c => c.Scalar(
            "SELECT 1 FROM blob_links WHERE repository=$r AND digest=$d", null, ("$r", repository), ("$d", digest.ToString())) is not null);

    /// <summary>Opens a stored blob for reading (FileNotFoundException when it is not stored).</summary>
    public Stream OpenBlob(Digest digest) => _blobs.OpenRead(digest);

    /// <summary>The blob's file, for zero-copy file responses.</summary>
    internal string BlobFilePath(Digest digest) => _blobs.PathOf(digest);

    /// <summary>
    /// Stores a whole blob from a stream: staged, hashed in the same pass, flushed, verified against
    /// <paramref name="expected"/> (else <c>DIGEST_INVALID</c>) and renamed into place; linked to the repository.
    /// </summary>
    public async Task<BlobInfo> WriteBlobAsync(string repository, Digest expected, Stream content, CancellationToken cancellationToken = default)
    {
        CheckRepository(repository);
        var staged = await _blobs.StageAsync(content, expected.Algorithm, null, cancellationToken);
        if (staged.Digest != expected)
        {
            BlobStore.TryDelete(staged.Path);
            throw new OciException(OciErrorCode.DigestInvalid, "provided digest did not match uploaded content", new { expected = expected.ToString(), actual = staged.Digest.ToString() });
        }

        return await CommitVerifiedFileAsync(repository, staged.Path, staged.Digest, staged.Length, cancellationToken);
    }

    /// <summary>How many bytes of a blob being fetched are already on disk (0 when none): resume with <c>Range: bytes=N-</c>.</summary>
    public long GetPartialBlobLength(Digest digest) => BlobStore.LengthOf(Layout.PartialPath(digest));

    /// <summary>
    /// Appends to the partial file of <paramref name="digest"/> starting at <paramref name="offset"/>, which
    /// must be ≤ the current partial length (a shorter offset truncates first). Bytes that arrived before a
    /// failure stay on disk for the next attempt. Returns the new partial length.
    /// </summary>
    public async Task<long> AppendPartialBlobAsync(Digest digest, long offset, Stream content, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var path = Layout.PartialPath(digest);
        using var _ = await _partialLocks.AcquireAsync(path, cancellationToken);
        var length = BlobStore.LengthOf(path);
        if (offset > length)
        {
            throw new InvalidOperationException($"cannot append at {offset}: only {length} bytes of the partial blob are stored");
        }

        if (offset < length)
        {
            _blobs.Forget(path);
            await using var truncate = new FileStream(path, FileMode.Open, FileAccess.Write);
            truncate.SetLength(offset);
        }

        return await _blobs.AppendAsync(path, content, null, cancellationToken);
    }

    /// <summary>
    /// Verifies the partial file of <paramref name="digest"/> and moves it into place. On a mismatch the
    /// partial file is deleted and <c>DIGEST_INVALID</c> is thrown (the next attempt starts from 0).
    /// </summary>
    public async Task<BlobInfo> CommitPartialBlobAsync(string repository, Digest digest, CancellationToken cancellationToken = default)
    {
        CheckRepository(repository);
        var path = Layout.PartialPath(digest);
        using var _ = await _partialLocks.AcquireAsync(path, cancellationToken);
        if (!File.Exists(path))
        {
            if (_blobs.Exists(digest))
            {
                await LinkBlobAsync(repository, digest, cancellationToken);
                return new BlobInfo(digest, _blobs.Size(digest) ?? 0);
            }

            throw new OciException(OciErrorCode.BlobUnknown, "no partial blob to commit");
        }

        var actual = await _blobs.DigestOfAsync(path, digest.Algorithm, cancellationToken);
        _blobs.Forget(path);
        if (actual != digest)
        {
            BlobStore.TryDelete(path);
            throw new OciException(OciErrorCode.DigestInvalid, "partial blob content did not match its digest", new { expected = digest.ToString(), actual = actual.ToString() });
        }

        return await CommitVerifiedFileAsync(repository, path, digest, BlobStore.LengthOf(path), cancellationToken);
    }

    /// <summary>Appends (see <see cref="AppendPartialBlobAsync"/>) then commits (see <see cref="CommitPartialBlobAsync"/>).</summary>
    public async Task<BlobInfo> WriteBlobResumableAsync(string repository, Digest digest, long offset, Stream content, CancellationToken cancellationToken = default)
    {
        await AppendPartialBlobAsync(digest, offset, content, cancellationToken);
        return await CommitPartialBlobAsync(repository, digest, cancellationToken);
    }

    public void DeletePartialBlob(Digest digest)
    {
        var path = Layout.PartialPath(digest);
        _blobs.Forget(path);
        BlobStore.TryDelete(path);
    }

    /// <summary>Makes a stored blob part of a repository (a cross-repository mount). False when the blob is not stored.</summary>
    public Task<bool> LinkBlobAsync(string repository, Digest digest, CancellationToken cancellationToken = default)
    {
        CheckRepository(repository);
        return _db.WriteAsync((c, t) =>
        {
            if (!_blobs.Exists(digest))
            {
                return false;
            }

            EnsureRepository(c, t, repository);
            UpsertLink(c, t, repository, digest);
            return true;
        }, cancellationToken);
    }

    /// <summary>Removes a blob from a repository (its bytes go when garbage collection finds nothing else uses them).</summary>
    public Task<bool> UnlinkBlobAsync(string repository, Digest digest, CancellationToken cancellationToken = default) =>
        _db.WriteAsync((c, t) => c.Execute(
            "DELETE FROM blob_links WHERE repository=$r AND digest=$d", t, ("$r", repository), ("$d", digest.ToString())) > 0, cancellationToken);

    /// <summary>Moves an already verified file into place and links it, atomically with respect to garbage collection.</summary>
    internal async Task<BlobInfo> CommitVerifiedFileAsync(string repository, string verifiedPath, Digest digest, long size, CancellationToken cancellationToken)
    {
        var created = await _db.WriteAsync((c, t) =>
        {
            EnsureRepository(c, t, repository);
            var isNew = _blobs.Commit(verifiedPath, digest);
            UpsertLink(c, t, repository, digest);
            return isNew;
        }, cancellationToken);
        var info = new BlobInfo(digest, size);
        if (created)
        {
            BlobCreated?.Invoke(info);
        }

        return info;
    }

    // ---- manifests ---------------------------------------------------------------------------

    /// <summary>
    /// Stores a manifest as its exact bytes (the sync engine's entry point). Every referenced blob must be
    /// stored (it is linked to the repository) and every child manifest of an index must be in the
    /// repository, else <c>MANIFEST_BLOB_UNKNOWN</c>. With <paramref name="expectedDigest"/> the bytes must
    /// hash to it. With <paramref name="tag"/> the tag is set (or moved) in the same transaction.
    /// </summary>
    public Task<ManifestPutResult> PutManifestAsync(string repository, ReadOnlyMemory<byte> content, string? mediaType, string? tag = null, Digest? expectedDigest = null, CancellationToken cancellationToken = default) =>
        PutManifestAsync(repository, content, mediaType, tag, expectedDigest, requireLinkedBlobs: false, cancellationToken);

    /// <param name="requireLinkedBlobs">True for client pushes: a referenced blob must already belong to the repository.</param>
    internal Task<ManifestPutResult> PutManifestAsync(string repository, ReadOnlyMemory<byte> content, string? mediaType, string? tag, Digest? expectedDigest, bool requireLinkedBlobs, CancellationToken cancellationToken)
    {
        CheckRepository(repository);
        if (tag is not null && !Tag.IsValid(tag))
        {
            throw new OciException(OciErrorCode.ManifestInvalid, "invalid tag");
        }

        if (content.Length > MaxManifestBytes)
        {
            throw new OciException(OciErrorCode.PayloadTooLarge, $"manifest exceeds {MaxManifestBytes} bytes");
        }

        ParsedManifest parsed;
        try
        {
            parsed = ManifestParser.Parse(content.Span, mediaType);
        }
        catch (ManifestFormatException ex)
        {
            throw new OciException(OciErrorCode.ManifestInvalid, ex.Message);
        }

        var digest = Digest.Compute(content.Span, expectedDigest?.Algorithm ?? Digest.Sha256);
        if (expectedDigest is { } expected && expected != digest)
        {
            throw new OciException(OciErrorCode.DigestInvalid, "manifest content does not match the digest in the URL", new { expected = expected.ToString(), actual = digest.ToString() });
        }

        var bytes = content.ToArray();
        return _db.WriteAsync((c, t) =>
        {
            EnsureRepository(c, t, repository);
            var missing = new List<string>();
            foreach (var blob in parsed.RequiredBlobs)
            {
                var present = _blobs.Exists(blob.Digest) && (!requireLinkedBlobs || c.Scalar(
                    "SELECT 1 FROM blob_links WHERE repository=$r AND digest=$d", t, ("$r", repository), ("$d", blob.Digest.ToString())) is not null);
                if (!present)
                {
                    missing.Add(blob.Digest.ToString());
                }
            }

            foreach (var child in parsed.Manifests)
            {
                if (c.Scalar("SELECT 1 FROM manifests WHERE repository=$r AND digest=$d", t, ("$r", repository), ("$d", child.Digest.ToString())) is null)
                {
                    missing.Add(child.Digest.ToString());
                }
            }

            if (missing.Count > 0)
            {
                throw new OciException(OciErrorCode.ManifestBlobUnknown, "manifest references content unknown to the registry", new { digests = missing.Distinct().ToArray() });
            }

            var digestText = digest.ToString();
            var created = c.Execute(
                """
                INSERT INTO manifests(repository, digest, media_type, size, content, artifact_type, subject, annotations, created)
                VALUES ($r, $d, $m, $s, $c, $a, $sub, $ann, $now)
                ON CONFLICT(repository, digest) DO NOTHING
                """,
                t,
                ("$r", repository), ("$d", digestText), ("$m", parsed.MediaType), ("$s", bytes.LongLength), ("$c", bytes),
                ("$a", parsed.EffectiveArtifactType), ("$sub", parsed.Subject?.Digest.ToString()),
                ("$ann", parsed.Annotations is null ? null : JsonConvert.SerializeObject(parsed.Annotations)), ("$now", Now)) > 0;
            if (created)
            {
                foreach (var blob in parsed.RequiredBlobs)
                {
                    c.Execute("INSERT OR IGNORE INTO manifest_refs(repository, digest, target, kind) VALUES ($r, $d, $t, $k)", t,
                        ("$r", repository), ("$d", digestText), ("$t", blob.Digest.ToString()), ("$k", KindBlob));
                    if (!requireLinkedBlobs)
                    {
                        UpsertLink(c, t, repository, blob.Digest);
                    }
                }

                foreach (var child in parsed.Manifests)
                {
                    c.Execute("INSERT OR IGNORE INTO manifest_refs(repository, digest, target, kind) VALUES ($r, $d, $t, $k)", t,
                        ("$r", repository), ("$d", digestText), ("$t", child.Digest.ToString()), ("$k", KindManifest));
                }
            }

            if (tag is not null)
            {
                UpsertTag(c, t, repository, tag, digestText);
            }

            return new ManifestPutResult(digest, parsed, created);
        }, cancellationToken);
    }

    /// <summary>A manifest by tag or digest, or null when the repository does not hold it.</summary>
    public StoredManifest? GetManifest(string repository, Reference reference)
    {
        const string ByDigest = "SELECT digest, media_type, content FROM manifests WHERE repository=$r AND digest=$x";
        const string ByTag = "SELECT m.digest, m.media_type, m.content FROM tags t JOIN manifests m ON m.repository=t.repository AND m.digest=t.digest WHERE t.repository=$r AND t.tag=$x";
        return _db.Read(c =>
        {
            using var command = c.Command(reference.IsDigest ? ByDigest : ByTag, null, ("$r", repository), ("$x", reference.ToString()));
            using var reader = command.ExecuteReader();
            return reader.Read()
                ? new StoredManifest(repository, Digest.Parse(reader.GetString(0)), reader.GetString(1), (byte[])reader[2])
                : null;
        });
    }

    public StoredManifest? GetManifest(string repository, string tagOrDigest) =>
        Reference.TryParse(tagOrDigest, out var reference) ? GetManifest(repository, reference) : null;

    /// <summary>Deletes a manifest and every tag pointing at it. False when the repository did not hold it.</summary>
    public Task<bool> DeleteManifestAsync(string repository, Digest digest, CancellationToken cancellationToken = default) =>
        _db.WriteAsync((c, t) => c.Execute(
            "DELETE FROM manifests WHERE repository=$r AND digest=$d", t, ("$r", repository), ("$d", digest.ToString())) > 0, cancellationToken);

    /// <summary>Points a tag at a manifest the repository holds (else <c>MANIFEST_UNKNOWN</c>).</summary>
    public Task SetTagAsync(string repository, string tag, Digest digest, CancellationToken cancellationToken = default)
    {
        CheckRepository(repository);
        if (!Tag.IsValid(tag))
        {
            throw new OciException(OciErrorCode.ManifestInvalid, "invalid tag");
        }

        return _db.WriteAsync((c, t) =>
        {
            if (c.Scalar("SELECT 1 FROM manifests WHERE repository=$r AND digest=$d", t, ("$r", repository), ("$d", digest.ToString())) is null)
            {
                throw new OciException(OciErrorCode.ManifestUnknown, "the repository does not hold that manifest");
            }

            UpsertTag(c, t, repository, tag, digest.ToString());
        }, cancellationToken);
    }

    /// <summary>Removes a tag (the manifest stays). False when there was no such tag.</summary>
    public Task<bool> DeleteTagAsync(string repository, string tag, CancellationToken cancellationToken = default) =>
        _db.WriteAsync((c, t) => c.Execute(
            "DELETE FROM tags WHERE repository=$r AND tag=$t", t, ("$r", repository), ("$t", tag)) > 0, cancellationToken);

    /// <summary>Tags of a repository in lexical (ordinal) order, after <paramref name="last"/>, at most <paramref name="limit"/>.</summary>
    public IReadOnlyList<TagEntry> ListTags(string repository, string? last = null, int? limit = null) =>
        _db.Read(c =>
        {
            using var command = c.Command(
                "SELECT tag, digest FROM tags WHERE repository=$r AND ($last IS NULL OR tag > $last) ORDER BY tag COLLATE BINARY LIMIT $n",
                null, ("$r", repository), ("$last", last), ("$n", (long?)limit ?? -1));
            using var reader = command.ExecuteReader();
            var list = new List<TagEntry>();
            while (reader.Read())
            {
                list.Add(new TagEntry(reader.GetString(0), Digest.Parse(reader.GetString(1))));
            }

            return list;
        });

    /// <summary>True when anything was ever pushed to the repository (an upload, a blob, a manifest).</summary>
    public bool RepositoryExists(string repository) =>
        _db.Read(c => c.Scalar("SELECT 1 FROM repositories WHERE name=$r", null, ("$r", repository)) is not null);

    /// <summary>Repositories that hold at least one manifest, in lexical order, after <paramref name="last"/>, at most <paramref name="limit"/>.</summary>
    public IReadOnlyList<string> ListRepositories(string? last = null, int? limit = null) =>
        _db.Read(c =>
        {
            using var command = c.Command(
                "SELECT name FROM repositories r WHERE ($last IS NULL OR name > $last) AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository=r.name) ORDER BY name COLLATE BINARY LIMIT $n",
                null, ("$last", last), ("$n", (long?)limit ?? -1));
            using var reader = command.ExecuteReader();
            var list = new List<string>();
            while (reader.Read())
            {
                list.Add(reader.GetString(0));
            }

            return list;
        });

    /// <summary>Manifests in the repository whose <c>subject</c> is <paramref name="subject"/>, as descriptors, optionally of one artifact type.</summary>
    public IReadOnlyList<Descriptor> ListReferrers(string repository, Digest subject, string? artifactType = null) =>
        _db.Read(c =>
        {
            using var command = c.Command(
                "SELECT digest, media_type, size, artifact_type, annotations FROM manifests WHERE repository=$r AND subject=$s AND ($a IS NULL OR artifact_type=$a) ORDER BY created, digest",
                null, ("$r", repository), ("$s", subject.ToString()), ("$a", artifactType));
            using var reader = command.ExecuteReader();
            var list = new List<Descriptor>();
            while (reader.Read())
            {
                var annotations = reader.IsDBNull(4) ? null : JsonConvert.DeserializeObject<Dictionary<string, string>>(reader.GetString(4));
                list.Add(new Descriptor(
                    reader.GetString(1),
                    Digest.Parse(reader.GetString(0)),
                    reader.GetInt64(2),
                    reader.IsDBNull(3) ? null : reader.GetString(3),
                    annotations));
            }

            return list;
        });

    /// <summary>Number of repositories that hold at least one manifest.</summary>
    public long CountRepositories() =>
        _db.Read(c => (long)(c.Scalar("SELECT COUNT(*) FROM repositories r WHERE EXISTS (SELECT 1 FROM manifests m WHERE m.repository=r.name)") ?? 0L));

    // ---- helpers -----------------------------------------------------------------------------

    private static void CheckRepository(string repository)
    {
        if (!RepositoryName.IsValid(repository))
        {
            throw new OciException(OciErrorCode.NameInvalid, "invalid repository name");
        }
    }

    internal void EnsureRepository(SqliteConnection c, SqliteTransaction t, string repository) =>
        c.Execute("INSERT OR IGNORE INTO repositories(name, created) VALUES ($r, $now)", t, ("$r", repository), ("$now", Now));

    private void UpsertLink(SqliteConnection c, SqliteTransaction t, string repository, Digest digest) =>
        c.Execute(
            "INSERT INTO blob_links(repository, digest, created) VALUES ($r, $d, $now) ON CONFLICT(repository, digest) DO UPDATE SET created=excluded.created",
            t, ("$r", repository), ("$d", digest.ToString()), ("$now", Now));

    private void UpsertTag(SqliteConnection c, SqliteTransaction t, string repository, string tag, string digest) =>
        c.Execute(
            "INSERT INTO tags(repository, tag, digest, updated) VALUES ($r, $t, $d, $now) ON CONFLICT(repository, tag) DO UPDATE SET digest=excluded.digest, updated=excluded.updated",
            t, ("$r", repository), ("$t", tag), ("$d", digest), ("$now", Now));
}
