using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Storage;

/// <summary>
/// The one description of the data root (<c>--data</c> / <c>REGISTRY_DATA</c>). Everything lives on one
/// volume so that a rename from a staging area into place is atomic.
/// <code>
/// &lt;root&gt;/
///   registry.db (+ -wal, -shm)       SQLite metadata, WAL mode: repositories, manifests (exact bytes),
///                                    manifest references, tags, repository↔blob links, referrers
///                                    (subject column of manifests), upload sessions
///   blobs/&lt;alg&gt;/&lt;2 hex&gt;/&lt;hex&gt;      a blob, named by its digest; exists only whole and verified
///   staging/&lt;random&gt;.tmp             a blob being written while hashed; fsynced, verified, then renamed
///                                    into blobs/ (leftovers from a crash are deleted at start-up)
///   uploads/&lt;session id&gt;/data         the bytes of a client's upload session so far (chunked pushes
///                                    survive a restart); purged after the configured age
///   partial/&lt;alg&gt;/&lt;hex&gt;              a blob the sync engine is still fetching; resumed from its
///                                    length with an HTTP Range, verified and renamed when complete
///   sync.db (+ -wal, -shm)           the sync engine's SQLite database, WAL mode (Sync/SyncDatabase):
///                                    synced_tags (the tags sync down set, so a client's tags are never
///                                    removed by it) and outbox (client changes waiting to go up to the parent)
///   hierarchy.db (+ -wal, -shm)      Hierarchy/HierarchyStore, WAL mode: children's activations (parent
///                                    side), this registry's own activation and instance id (child side),
///                                    and the change log children long-poll
///   auth/token-signing.key           the key that signs this registry's bearer tokens (Auth/SigningKey)
///   twin/last-good-desired.json      the last desired properties that applied, password hashes only
///                                    (Twin/), so a restart without edgeHub serves with them
///   bundles/                         offline bundles (Bundles/): state files the bundleState method writes,
///                                    and bundles put there for the importBundle method
///   control.sock                     while the module runs: its direct methods for the call command (Twin/), 0600
/// </code>
/// Repository names, digests and session ids are validated before they become part of a path: a
/// repository name is never a path here at all (it lives only in SQLite).
/// </summary>
public sealed class DataLayout
{
    public const string DatabaseFile = "registry.db";
    private const string Blobs = "blobs";
    private const string Staging = "staging";
    private const string Uploads = "uploads";
    private const string Partial = "partial";

    public DataLayout(string root)
    {
        Root = Path.GetFullPath(root);
    }

    public string Root { get; }

    /// <summary>The folders storage keeps below the root (<see cref="EnsureCreated"/> makes them).</summary>
    public static IReadOnlyList<string> Folders { get; } = [Blobs, Staging, Uploads, Partial];

    public string Database => Path.Combine(Root, DatabaseFile);

    public string BlobsDirectory => Path.Combine(Root, Blobs);

    public string StagingDirectory => Path.Combine(Root, Staging);

    public string UploadsDirectory => Path.Combine(Root, Uploads);

    public string PartialDirectory => Path.Combine(Root, Partial);

    public string BlobPath(Digest digest) => Path.Combine(BlobsDirectory, digest.Algorithm, digest.Hex[..2], digest.Hex);

    public string PartialPath(Digest digest) => Path.Combine(PartialDirectory, digest.Algorithm, digest.Hex);

    public string UploadDirectory(string sessionId) => Path.Combine(UploadsDirectory, CheckSessionId(sessionId));

    public string UploadDataPath(string sessionId) => Path.Combine(UploadDirectory(sessionId), "data");

    public string NewStagingPath() => Path.Combine(StagingDirectory, Guid.NewGuid().ToString("N") + ".tmp");

    public void EnsureCreated()
    {
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(BlobsDirectory);
        Directory.CreateDirectory(StagingDirectory);
        Directory.CreateDirectory(UploadsDirectory);
        Directory.CreateDirectory(PartialDirectory);
    }

    /// <summary>Session ids are 32 lower-case hex characters (a GUID without dashes).</summary>
    public static bool IsValidSessionId(string? id) =>
        id is { Length: 32 } && id.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');

    private static string CheckSessionId(string id) =>
        IsValidSessionId(id) ? id : throw new ArgumentException("invalid upload session id", nameof(id));
}
