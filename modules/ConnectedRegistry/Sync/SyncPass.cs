using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// What the repositories of one sync-down pass share: the parent, the pass's blob fetcher (its blob slots and
/// single-flight), its meter, the registry's mode, and the token that ends the pass. Made by <see cref="SyncDown"/>.
/// </summary>
public sealed class SyncPass(IParentRegistry parent, BlobFetcher blobs, SyncPassMeter meter, RegistryMode mode, CancellationToken cancellation)
{
    public IParentRegistry Parent { get; } = parent;

    public BlobFetcher Blobs { get; } = blobs;

    public SyncPassMeter Meter { get; } = meter;

    public RegistryMode Mode { get; } = mode;

    public CancellationToken Cancellation { get; } = cancellation;

    /// <summary>Whether the parent has the referrers API; null until the first referrers call tells.</summary>
    public bool? ReferrersApi { get; set; }
}
