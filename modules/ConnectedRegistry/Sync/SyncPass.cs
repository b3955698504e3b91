using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// What the repositories of one sync-down pass share: the parent, the pass's blob fetcher (its blob slots and
/// single-flight), its meter, the registry's mode, the sync set whose filters select tags and platforms, and the token
/// that ends the pass. Made by <see cref="SyncDown"/> (and by on-demand fetch, without a set: a client's request is
/// never filtered).
/// </summary>
public sealed class SyncPass(IParentRegistry parent, BlobFetcher blobs, SyncPassMeter meter, RegistryMode mode, CancellationToken cancellation)
{
    public IParentRegistry Parent { get; } = parent;

    public BlobFetcher Blobs { get; } = blobs;

    public SyncPassMeter Meter { get; } = meter;

    public RegistryMode Mode { get; } = mode;

    public CancellationToken Cancellation { get; } = cancellation;

    /// <summary>The sync set whose tag and platform filters apply; null: every tag, every platform.</summary>
    public SyncSet? Set { get; init; }

    /// <summary>Whether the pass syncs <paramref name="repository"/>:<paramref name="tag"/>, and for which platforms.</summary>
    public TagSelection SelectTag(string repository, string tag) => Set?.SelectTag(repository, tag) ?? TagSelection.Of(Oci.PlatformFilter.All);

    /// <summary>What the pass syncs of a repository's tags at the parent, <c>newest</c> counts applied (<see cref="SyncSet.SelectTags"/>).</summary>
    public Dictionary<string, TagSelection> SelectTags(string repository, IReadOnlyList<string> tags) =>
        Set?.SelectTags(repository, tags) ?? tags.Distinct(StringComparer.Ordinal).ToDictionary(t => t, _ => TagSelection.Of(Oci.PlatformFilter.All), StringComparer.Ordinal);

    /// <summary>Whether the parent has the referrers API; null until the first referrers call tells.</summary>
    public bool? ReferrersApi { get; set; }
}
