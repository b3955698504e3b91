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
/// What <see cref="RegistryStore.EvictManifestsAsync"/> did with one manifest: <see cref="Evicted"/> with the tags that
/// pointed at it and the blobs it referenced (their files go once nothing else uses them), or why it was kept.
/// </summary>
public sealed record ManifestEviction(string Repository, Digest Digest, ManifestEvictionOutcome Outcome, IReadOnlyList<string> Tags, IReadOnlyList<Digest> Blobs)
{
    public bool Evicted => Outcome == ManifestEvictionOutcome.Evicted;
}

/// <summary>
/// What an eviction decides one manifest from, read inside <see cref="RegistryStore.EvictManifestsAsync"/>'s write: the
/// tags pointing at it now, its last pull written (pulls still in memory are the caller's), and on first ask every tag
/// of its repository (retention's keep rules rank them).
/// </summary>
public sealed class EvictionCheck
{
    private readonly Func<IReadOnlyList<RetentionTag>> _repositoryTags;

    internal EvictionCheck(string repository, Digest digest, IReadOnlyList<string> tags, DateTimeOffset? lastPulled, Func<IReadOnlyList<RetentionTag>> repositoryTags)
    {
        Repository = repository;
        Digest = digest;
        Tags = tags;
        LastPulled = lastPulled;
        _repositoryTags = repositoryTags;
    }

    public string Repository { get; }

    public Digest Digest { get; }

    /// <summary>The tags of the repository pointing at the manifest now.</summary>
    public IReadOnlyList<string> Tags { get; }

    /// <summary>Its last pull as written to <c>manifest_pulls</c>; null when never pulled.</summary>
    public DateTimeOffset? LastPulled { get; }

    /// <summary>Every tag of the repository with its manifest and push/sync time (read in the write on first ask).</summary>
    public IReadOnlyList<RetentionTag> RepositoryTags => _repositoryTags();
}

public enum ManifestEvictionOutcome
{
    /// <summary>Deleted with its tags, and its blob links no other manifest of the repository needs.</summary>
    Evicted,

    /// <summary>The repository no longer holds it.</summary>
    Gone,

    /// <summary>An index of the repository lists it: deleting it would leave the index incomplete.</summary>
    Referenced,

    /// <summary>The caller's check refused (a local push of a tag waits for delivery, a retention rule keeps a tag, pulled within the pin).</summary>
    Kept,
}
