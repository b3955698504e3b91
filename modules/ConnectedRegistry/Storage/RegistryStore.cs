using ConnectedRegistry.Oci;
using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.Storage;

/// <summary>
/// The registry's storage facade: blobs, manifests, tags, repositories and referrers. The Distribution
/// API and the sync engine both write through it. Writes made here directly raise no
/// <see cref="Core.IRegistryEventSink"/> event (only the Distribution API reports client pushes).
/// Bytes that do not match their digest are a <see cref="DigestMismatchException"/>; the other errors a caller can act on
/// are storage's own too (<see cref="InvalidManifestException"/>, <see cref="ManifestTooLargeException"/>,
/// <see cref="ManifestReferencesMissingException"/>, <see cref="ManifestNotHeldException"/>,
/// <see cref="InvalidRepositoryNameException"/>), given their OCI codes at the HTTP edge (<c>Distribution/StorageErrors</c>).
/// Repository names and tags must be valid (<see cref="RepositoryName"/>, <see cref="Tag"/>); they are checked.
/// Blob files are <see cref="BlobStore"/>'s, their links <see cref="RepositoryBlobs"/>'s, the SQL <see cref="MetadataSql"/>'s.
/// </summary>
public sealed class RegistryStore
{
    /// <summary>The largest manifest accepted (4 MiB, as the OCI distribution spec recommends).</summary>
    public const int MaxManifestBytes = 4 * 1024 * 1024;

    private readonly MetadataDatabase _db;
    private readonly BlobStore _blobs;
    private readonly RepositoryBlobs _links;
    private readonly TimeProvider _time;

    public RegistryStore(DataLayout layout, MetadataDatabase db, BlobStore blobs, RepositoryBlobs links, TimeProvider time)
    {
        Layout = layout;
        _db = db;
        _blobs = blobs;
        _links = links;
        _time = time;
    }

    public DataLayout Layout { get; }

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    // ---- blobs -------------------------------------------------------------------------------

    /// <summary>True when the blob's bytes are stored (in any repository).</summary>
    public bool BlobExists(Digest digest) => _blobs.Exists(digest);

    public long? GetBlobSize(Digest digest) => _blobs.Size(digest);

    /// <summary>True when the blob is stored and belongs to <paramref name="repository"/>.</summary>
    public bool IsBlobInRepository(string repository, Digest digest) => _links.IsInRepository(repository, digest);

    /// <summary>Opens a stored blob for reading (FileNotFoundException when it is not stored).</summary>
    public Stream OpenBlob(Digest digest) => _blobs.OpenRead(digest);

    /// <summary>The blob's file, for zero-copy file responses.</summary>
    internal string BlobFilePath(Digest digest) => _blobs.PathOf(digest);

    /// <summary>
    /// Stores a whole blob from a stream: staged, hashed in the same pass, flushed, verified against
    /// <paramref name="expected"/> (else <see cref="DigestMismatchException"/>) and renamed into place; linked to the repository.
    /// </summary>
    public async Task<BlobInfo> WriteBlobAsync(string repository, Digest expected, Stream content, CancellationToken cancellationToken = default)
    {
        CheckRepository(repository);
        var staged = await _blobs.StageAsync(content, expected.Algorithm, null, cancellationToken);
        if (staged.Digest != expected)
        {
            _blobs.Discard(staged.Path);
            throw new DigestMismatchException(expected, staged.Digest, "provided digest did not match uploaded content");
        }

        return await _links.CommitAsync(repository, staged.Path, staged.Digest, staged.Length, cancellationToken);
    }

    /// <summary>Makes a stored blob part of a repository (a cross-repository mount). False when the blob is not stored.</summary>
    public Task<bool> LinkBlobAsync(string repository, Digest digest, CancellationToken cancellationToken = default)
    {
        CheckRepository(repository);
        return _links.LinkAsync(repository, digest, cancellationToken);
    }

    /// <summary>Removes a blob from a repository (its bytes go when garbage collection finds nothing else uses them).</summary>
    public Task<bool> UnlinkBlobAsync(string repository, Digest digest, CancellationToken cancellationToken = default) =>
        _links.UnlinkAsync(repository, digest, cancellationToken);

    // ---- manifests ---------------------------------------------------------------------------

    /// <summary>
    /// Stores a manifest as its exact bytes, parsed and hashed here. Every referenced blob must be
    /// stored (it is linked to the repository) and every child manifest of an index must be in the
    /// repository, else <see cref="ManifestReferencesMissingException"/>. With <paramref name="expectedDigest"/> the bytes must
    /// hash to it. With <paramref name="tag"/> the tag is set (or moved) in the same transaction.
    /// </summary>
    public Task<ManifestPutResult> PutManifestAsync(string repository, ReadOnlyMemory<byte> content, string? mediaType, string? tag = null, Digest? expectedDigest = null, CancellationToken cancellationToken = default) =>
        PutManifestAsync(repository, content, mediaType, tag, expectedDigest, requireLinkedBlobs: false, cancellationToken);

    /// <summary>
    /// Stores an index that sync down filtered by platform: as <see cref="PutManifestAsync(string, ReadOnlyMemory{byte}, string?, string?, Digest?, CancellationToken)"/>,
    /// except that the child manifests in <paramref name="leftOut"/> may be absent; those absent are recorded as left
    /// out on purpose, so checks of the store expect them missing (and a child that arrives later is kept).
    /// </summary>
    public Task<ManifestPutResult> PutFilteredManifestAsync(string repository, ReadOnlyMemory<byte> content, string? mediaType, string? tag, Digest expectedDigest, IReadOnlyCollection<Digest> leftOut, CancellationToken cancellationToken = default) =>
        PutManifestAsync(repository, content, mediaType, tag, expectedDigest, requireLinkedBlobs: false, cancellationToken, leftOut);

    /// <summary>Child manifests of <paramref name="index"/> that were left out by the sync filter and are still absent.</summary>
    public IReadOnlyList<Digest> LeftOutChildren(string repository, Digest index) =>
        _db.Read(c => MetadataSql.LeftOutChildren(c, null, repository, index));

    /// <summary>
    /// Stores a manifest that the caller read, hashed and parsed already (sync down: the digest computed over the bytes
    /// as they arrived, <paramref name="manifest"/> what <see cref="ManifestParser"/> made of exactly these bytes), without
    /// parsing and hashing them again; otherwise as <see cref="PutManifestAsync(string, ReadOnlyMemory{byte}, string?, string?, Digest?, CancellationToken)"/>,
    /// or with <paramref name="leftOut"/> as <see cref="PutFilteredManifestAsync"/>.
    /// </summary>
    public Task<ManifestPutResult> PutManifestAsync(string repository, ParsedManifest manifest, Digest digest, ReadOnlyMemory<byte> content, string? tag, IReadOnlyCollection<Digest>? leftOut = null, CancellationToken cancellationToken = default)
    {
        CheckManifestWrite(repository, tag);
        CheckManifestSize(content);
        return StoreManifestAsync(repository, manifest, digest, content, tag, requireLinkedBlobs: false, leftOut, cancellationToken);
    }

    /// <param name="requireLinkedBlobs">True for client pushes: a referenced blob must already belong to the repository.</param>
    /// <param name="leftOut">Child manifests that may be absent (an index filtered by platform by sync down).</param>
    internal Task<ManifestPutResult> PutManifestAsync(string repository, ReadOnlyMemory<byte> content, string? mediaType, string? tag, Digest? expectedDigest, bool requireLinkedBlobs, CancellationToken cancellationToken, IReadOnlyCollection<Digest>? leftOut = null)
    {
        CheckManifestWrite(repository, tag);
        var (parsed, digest) = ParseManifest(content, mediaType, expectedDigest);
        return StoreManifestAsync(repository, parsed, digest, content, tag, requireLinkedBlobs, leftOut, cancellationToken);
    }

    private static void CheckManifestWrite(string repository, string? tag)
    {
        CheckRepository(repository);
        if (tag is not null && !Tag.IsValid(tag))
        {
            throw new InvalidManifestException("invalid tag");
        }
    }

    /// <summary>One write: the manifest row (when new) with what it references, and the tag; every reference checked first.</summary>
    private Task<ManifestPutResult> StoreManifestAsync(string repository, ParsedManifest parsed, Digest digest, ReadOnlyMemory<byte> content, string? tag, bool requireLinkedBlobs, IReadOnlyCollection<Digest>? leftOut, CancellationToken cancellationToken)
    {
        var bytes = content.ToArray();
        var now = Now;
        return _db.WriteAsync((c, t) =>
        {
            MetadataSql.EnsureRepository(c, t, repository, now);
            // A manifest stored already keeps the children sync left out: a client may tag it again (PUT of the same bytes).
            var tolerated = leftOut ?? (parsed.Manifests.Count > 0 && MetadataSql.ManifestExists(c, t, repository, digest) ? MetadataSql.LeftOutChildren(c, t, repository, digest) : []);
            var absent = ThrowIfReferencesMissing(c, t, repository, parsed, requireLinkedBlobs, tolerated);
            var created = MetadataSql.InsertManifest(c, t, repository, digest, parsed, bytes, now);
            if (created)
            {
                InsertReferences(c, t, repository, digest, parsed, linkBlobs: !requireLinkedBlobs, now);
            }

            foreach (var child in absent)
            {
                MetadataSql.InsertReference(c, t, repository, digest, child, MetadataSql.KindLeftOutChild);
            }

            if (tag is not null)
            {
                MetadataSql.UpsertTag(c, t, repository, tag, digest, now);
            }

            return new ManifestPutResult(digest, parsed, created);
        }, cancellationToken);
    }

    /// <summary>A manifest by tag or digest, or null when the repository does not hold it.</summary>
    public StoredManifest? GetManifest(string repository, Reference reference) =>
        _db.Read(c => MetadataSql.GetManifest(c, repository, reference));

    public StoredManifest? GetManifest(string repository, string tagOrDigest) =>
        Reference.TryParse(tagOrDigest, out var reference) ? GetManifest(repository, reference) : null;

    /// <summary>Deletes a manifest and every tag pointing at it. False when the repository did not hold it.</summary>
    public Task<bool> DeleteManifestAsync(string repository, Digest digest, CancellationToken cancellationToken = default) =>
        _db.WriteAsync((c, t) => MetadataSql.DeleteManifest(c, t, repository, digest), cancellationToken);

    /// <summary>
    /// Evicts manifests (content fetched on demand, to free space), in the given order, in one serialised write: the write
    /// garbage collection and every push go through. Each is decided again inside it and deleted with every tag pointing
    /// at it, and the repository's links to its blobs that no other manifest of the repository references (and that are
    /// older than <paramref name="linkCutoff"/>) go too. Kept when an index of the repository lists it, or when
    /// <paramref name="mayEvict"/> (asked inside the write, with the tags pointing at it now) says no. Stops after the
    /// manifest that brings the bytes of the blob files the batch left unused (no link, no reference) to
    /// <paramref name="bytesWanted"/>, so that the caller reads the volume again before more go. The outcomes of the
    /// manifests looked at, in order (fewer than given when it stopped). The blob files are left for
    /// <see cref="GarbageCollector.HeldCollector.DeleteUnusedBlobsAsync"/>. One transaction: a crash at any point leaves
    /// every manifest of the batch whole with its tags, or gone with them.
    /// </summary>
    public Task<IReadOnlyList<ManifestEviction>> EvictManifestsAsync(IReadOnlyList<(string Repository, Digest Digest)> manifests, DateTimeOffset linkCutoff, long bytesWanted,
        Func<EvictionCheck, bool> mayEvict, CancellationToken cancellationToken = default) =>
        _db.WriteAsync<IReadOnlyList<ManifestEviction>>((c, t) =>
        {
            var cutoff = linkCutoff.ToUnixTimeMilliseconds();
            var repositoryTags = new Dictionary<string, List<RetentionTag>>(StringComparer.Ordinal);
            var outcomes = new List<ManifestEviction>(manifests.Count);
            long unused = 0;
            foreach (var (repository, digest) in manifests)
            {
                if (unused >= bytesWanted)
                {
                    break;
                }

                if (!MetadataSql.ManifestExists(c, t, repository, digest))
                {
                    outcomes.Add(new ManifestEviction(repository, digest, ManifestEvictionOutcome.Gone, [], []));
                    continue;
                }

                if (MetadataSql.IsListedByIndex(c, t, repository, digest))
                {
                    outcomes.Add(new ManifestEviction(repository, digest, ManifestEvictionOutcome.Referenced, [], []));
                    continue;
                }

                var tags = MetadataSql.TagsOf(c, t, repository, digest);
                var pulled = MetadataSql.LastPull(c, t, repository, digest);
                // The repository's tags, read once per batch: what this batch evicts is what no rule keeps, so it never
                // changes which tags a rule keeps (the newest N stay the newest N).
                var check = new EvictionCheck(repository, digest, tags, pulled is { } at ? DateTimeOffset.FromUnixTimeMilliseconds(at) : null, () =>
                {
                    if (!repositoryTags.TryGetValue(repository, out var all))
                    {
                        repositoryTags[repository] = all = MetadataSql.RepositoryTags(c, t, repository);
                    }

                    return all;
                });
                if (!mayEvict(check))
                {
                    outcomes.Add(new ManifestEviction(repository, digest, ManifestEvictionOutcome.Kept, tags, []));
                    continue;
                }

                var blobs = MetadataSql.BlobsOf(c, t, repository, digest);
                MetadataSql.DeleteManifest(c, t, repository, digest); // its tags, references and pull time go by the foreign keys
                foreach (var blob in blobs)
                {
                    MetadataSql.DeleteLinkIfUnreferenced(c, t, repository, blob, cutoff);
                }

                unused += MetadataSql.UnusedBlobs(c, t, blobs).Sum(blob => _blobs.Size(blob) ?? 0);
                outcomes.Add(new ManifestEviction(repository, digest, ManifestEvictionOutcome.Evicted, tags, blobs));
            }

            return outcomes;
        }, cancellationToken);

    /// <summary>Points a tag at a manifest the repository holds (else <see cref="ManifestNotHeldException"/>).</summary>
    public Task SetTagAsync(string repository, string tag, Digest digest, CancellationToken cancellationToken = default)
    {
        CheckRepository(repository);
        if (!Tag.IsValid(tag))
        {
            throw new InvalidManifestException("invalid tag");
        }

        var now = Now;
        return _db.WriteAsync((c, t) =>
        {
            if (!MetadataSql.ManifestExists(c, t, repository, digest))
            {
                throw new ManifestNotHeldException();
            }

            MetadataSql.UpsertTag(c, t, repository, tag, digest, now);
        }, cancellationToken);
    }

    /// <summary>Removes a tag (the manifest stays). False when there was no such tag.</summary>
    public Task<bool> DeleteTagAsync(string repository, string tag, CancellationToken cancellationToken = default) =>
        _db.WriteAsync((c, t) => MetadataSql.DeleteTag(c, t, repository, tag), cancellationToken);

    /// <summary>Tags of a repository in lexical (ordinal) order, after <paramref name="last"/>, at most <paramref name="limit"/>.</summary>
    public IReadOnlyList<TagEntry> ListTags(string repository, string? last = null, int? limit = null) =>
        _db.Read(c => MetadataSql.ListTags(c, repository, last, limit));

    /// <summary>True when anything was ever pushed to the repository (an upload, a blob, a manifest).</summary>
    public bool RepositoryExists(string repository) => _db.Read(c => MetadataSql.RepositoryExists(c, repository));

    /// <summary>Repositories that hold at least one manifest, in lexical order, after <paramref name="last"/>, at most <paramref name="limit"/>.</summary>
    public IReadOnlyList<string> ListRepositories(string? last = null, int? limit = null) =>
        _db.Read(c => MetadataSql.ListRepositories(c, last, limit));

    /// <summary>Manifests in the repository whose <c>subject</c> is <paramref name="subject"/>, as descriptors, optionally of one artifact type.</summary>
    public IReadOnlyList<Descriptor> ListReferrers(string repository, Digest subject, string? artifactType = null) =>
        _db.Read(c => MetadataSql.ListReferrers(c, repository, subject, artifactType));

    /// <summary>
    /// When each manifest of the repository that was ever pulled was last pulled (a successful manifest GET), as written
    /// by <see cref="PullRecorder"/>: pulls of the current flush interval are still in its memory, so a caller that needs
    /// them (a retention pass) calls <see cref="PullRecorder.FlushAsync"/> first. Manifests never pulled are absent.
    /// </summary>
    public IReadOnlyDictionary<Digest, DateTimeOffset> GetLastPulls(string repository) =>
        _db.Read(c => MetadataSql.LastPulls(c, repository)).ToDictionary(p => p.Key, p => DateTimeOffset.FromUnixTimeMilliseconds(p.Value));

    /// <summary>Number of repositories that hold at least one manifest.</summary>
    public long CountRepositories() => _db.Read(MetadataSql.CountRepositories);

    // ---- helpers -----------------------------------------------------------------------------

    internal static void CheckRepository(string repository)
    {
        if (!RepositoryName.IsValid(repository))
        {
            throw new InvalidRepositoryNameException();
        }
    }

    /// <summary>Checks size, format and digest of a manifest before anything is written.</summary>
    private static (ParsedManifest Parsed, Digest Digest) ParseManifest(ReadOnlyMemory<byte> content, string? mediaType, Digest? expectedDigest)
    {
        CheckManifestSize(content);
        ParsedManifest parsed;
        try
        {
            parsed = ManifestParser.Parse(content, mediaType);
        }
        catch (ManifestFormatException ex)
        {
            throw new InvalidManifestException(ex.Message);
        }

        var digest = Digest.Compute(content.Span, expectedDigest?.Algorithm ?? Digest.Sha256);
        if (expectedDigest is { } expected && expected != digest)
        {
            throw new DigestMismatchException(expected, digest, "manifest content does not match the digest in the URL");
        }

        return (parsed, digest);
    }

    private static void CheckManifestSize(ReadOnlyMemory<byte> content)
    {
        if (content.Length > MaxManifestBytes)
        {
            throw new ManifestTooLargeException(MaxManifestBytes);
        }
    }

    /// <summary>
    /// <see cref="ManifestReferencesMissingException"/> listing every referenced blob or child manifest the repository cannot serve, except
    /// children in <paramref name="leftOut"/>; returns those of them that are absent.
    /// </summary>
    private List<Digest> ThrowIfReferencesMissing(SqliteConnection c, SqliteTransaction t, string repository, ParsedManifest parsed, bool requireLinkedBlobs, IReadOnlyCollection<Digest> leftOut)
    {
        var absentChildren = parsed.Manifests.Where(child => !MetadataSql.ManifestExists(c, t, repository, child.Digest)).Select(d => d.Digest).Distinct().ToList();
        var missing = parsed.RequiredBlobs
            .Where(blob => !_blobs.Exists(blob.Digest) || (requireLinkedBlobs && !MetadataSql.IsLinked(c, t, repository, blob.Digest)))
            .Select(d => d.Digest)
            .Concat(absentChildren.Where(child => !leftOut.Contains(child)))
            .Select(d => d.ToString())
            .Distinct()
            .ToArray();
        if (missing.Length > 0)
        {
            throw new ManifestReferencesMissingException(missing);
        }

        return absentChildren;
    }

    /// <summary>Records what a new manifest references (for garbage collection), linking its blobs when asked.</summary>
    private static void InsertReferences(SqliteConnection c, SqliteTransaction t, string repository, Digest digest, ParsedManifest parsed, bool linkBlobs, long now)
    {
        foreach (var blob in parsed.RequiredBlobs)
        {
            MetadataSql.InsertReference(c, t, repository, digest, blob.Digest, MetadataSql.KindBlob);
            if (linkBlobs)
            {
                MetadataSql.UpsertLink(c, t, repository, blob.Digest, now);
            }
        }

        foreach (var child in parsed.Manifests)
        {
            MetadataSql.InsertReference(c, t, repository, digest, child.Digest, MetadataSql.KindManifest);
        }
    }
}
