using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Storage;

public sealed record BlobInfo(Digest Digest, long Size);

public sealed record StoredManifest(string Repository, Digest Digest, string MediaType, byte[] Content)
{
    public long Size => Content.LongLength;
}

public sealed record TagEntry(string Tag, Digest Digest);

/// <summary>The outcome of storing a manifest: its digest, what it references, and whether it was new.</summary>
public sealed record ManifestPutResult(Digest Digest, ParsedManifest Manifest, bool Created);

/// <summary>
/// What <see cref="RegistryStore.EvictManifestAsync"/> did with one manifest: <see cref="Evicted"/> with the tags that
/// pointed at it and the blobs it referenced (their files go once nothing else uses them), or why it was kept.
/// </summary>
public sealed record ManifestEviction(ManifestEvictionOutcome Outcome, IReadOnlyList<string> Tags, IReadOnlyList<Digest> Blobs)
{
    public bool Evicted => Outcome == ManifestEvictionOutcome.Evicted;
}

public enum ManifestEvictionOutcome
{
    /// <summary>Deleted with its tags, and its blob links no other manifest of the repository needs.</summary>
    Evicted,

    /// <summary>The repository no longer holds it.</summary>
    Gone,

    /// <summary>An index of the repository lists it: deleting it would leave the index incomplete.</summary>
    Referenced,

    /// <summary>The caller's check of the tags pointing at it refused (a local push of one waits for delivery).</summary>
    Kept,
}
