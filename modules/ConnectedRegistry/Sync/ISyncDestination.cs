using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The local side of sync down: what the registry holds, and the writes that bring it content from the parent.
/// A blob is staged in pieces (resumable), committed only once verified; a manifest is stored (and its tag set)
/// only once everything it references is stored, so a tag never points at incomplete content. Implemented by
/// <see cref="RegistryDestination"/>; a write that fails for the disk's sake throws <see cref="LocalStorageException"/>.
/// </summary>
public interface ISyncDestination
{
    /// <summary>True when the blob's bytes are stored (in any repository).</summary>
    bool HasBlob(Digest digest);

    /// <summary>The size of a stored blob (in any repository), or null when it is not stored.</summary>
    long? BlobSize(Digest digest);

    /// <summary>True when <paramref name="repository"/> holds the manifest (stored manifests are complete, but for index entries a platform filter left out).</summary>
    bool HasManifest(string repository, Digest digest);

    /// <summary>A stored manifest's exact bytes, or null when the repository does not hold it.</summary>
    ManifestContent? GetManifest(string repository, Digest digest);

    /// <summary>The repository's tags and the digests they point at.</summary>
    IReadOnlyDictionary<string, Digest> Tags(string repository);

    /// <summary>How many bytes of a blob being fetched are staged already (0 when none).</summary>
    long StagedLength(Digest digest);

    /// <summary>
    /// Appends to the staged bytes of <paramref name="digest"/> from <paramref name="offset"/> (≤ <see cref="StagedLength"/>);
    /// <paramref name="progress"/> is told the staged length after each chunk is written and hashed.
    /// </summary>
    Task StageBlobAsync(Digest digest, long offset, Stream content, Action<long>? progress, CancellationToken cancellationToken);

    /// <summary>Drops the staged bytes of a blob.</summary>
    void DiscardStaged(Digest digest);

    /// <summary>
    /// Verifies the staged bytes against <paramref name="digest"/> and makes them a blob of <paramref name="repository"/>;
    /// on a mismatch they are dropped and a <see cref="DigestMismatchException"/> is thrown.
    /// <paramref name="verified"/> is called once they matched, before they are flushed to disk and stored.
    /// </summary>
    Task CommitBlobAsync(string repository, Digest digest, Action? verified, CancellationToken cancellationToken);

    /// <summary>Makes a stored blob part of <paramref name="repository"/>; false when the blob is not stored.</summary>
    Task<bool> LinkBlobAsync(string repository, Digest digest, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a manifest whose references are all stored but the child manifests in <paramref name="leftOut"/> (index
    /// entries the platform filter left out, recorded as such), and sets <paramref name="tag"/> in the same transaction.
    /// </summary>
    Task PutManifestAsync(string repository, ManifestContent manifest, string? tag, IReadOnlyCollection<Digest> leftOut, CancellationToken cancellationToken);

    /// <summary>Removes a tag (the manifest stays until garbage collection); false when it was gone already (evicted meanwhile).</summary>
    Task<bool> RemoveTagAsync(string repository, string tag, CancellationToken cancellationToken);
}
