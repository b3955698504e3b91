using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The manifest graph walk of sync down: stores a manifest only after everything it references — child manifests
/// of an index first (depth-first, at most <see cref="MaxDepth"/> levels), then configs and layers through the pass's
/// <see cref="BlobFetcher"/> — so the local side never holds a manifest (or a tag) whose content is incomplete.
/// Under a platform filter (<see cref="PlatformFilter"/>, at every level of nested indexes) an index is stored byte
/// for byte with only the entries the filter selects; those it left out are recorded as such, and fetched when a
/// later filter selects them (<see cref="CompleteAsync"/>). Then the referrers (signatures, SBOMs) of what was
/// synced, and theirs in turn.
/// <para>
/// Once a manifest is read and before its blobs are fetched, the bytes of those not here and not on their way are
/// announced to the free-space guard (<see cref="Storage.FreeSpaceGuard.AnnounceAsync"/>): eviction of content fetched on
/// demand makes room for them before they arrive, and when they take the volume below the mark the walk waits (bounded)
/// for that run. The announcement ends with the blobs, done, failed or cancelled.
/// </para>
/// </summary>
public sealed class ManifestGraphSync
{
    private const int MaxDepth = 4;
    private readonly ISyncDestination _local;
    private readonly Storage.FreeSpaceGuard? _space;

    public ManifestGraphSync(ISyncDestination local, Storage.FreeSpaceGuard? space = null)
    {
        _local = local;
        _space = space;
    }

    /// <summary>Stores <paramref name="manifest"/> with everything <paramref name="platforms"/> selects of it, and sets <paramref name="tag"/> with it.</summary>
    public async Task StoreAsync(SyncPass pass, string repository, ManifestContent manifest, string? tag, PlatformFilter platforms, int depth = 0)
    {
        var leftOut = await EnsureContentAsync(pass, repository, manifest, platforms, depth);
        await _local.PutManifestAsync(repository, manifest, tag, leftOut, pass.Cancellation);
        pass.Meter.ManifestStored();
    }

    /// <summary>
    /// For a stored index: fetches the entries <paramref name="platforms"/> selects that it lacks (left out by an
    /// earlier, narrower filter), at every level. Nothing happens for an image manifest or an index that is whole.
    /// </summary>
    public async Task CompleteAsync(SyncPass pass, string repository, Digest digest, PlatformFilter platforms, int depth = 0)
    {
        if (depth > MaxDepth || _local.GetManifest(repository, digest) is not { } stored || !MediaTypes.IsIndex(stored.MediaType))
        {
            return;
        }

        var selected = platforms.Select(stored.Parse().Manifests).Selected;
        await Task.WhenAll(selected.Select(child => EnsureManifestAsync(pass, repository, child.Digest, platforms, depth + 1)));
    }

    /// <summary>Referrers (signatures, SBOMs) of <paramref name="subject"/>, and theirs in turn, when the parent has the referrers API.</summary>
    public async Task SyncReferrersAsync(SyncPass pass, string repository, Digest subject, int depth)
    {
        if (pass.ReferrersApi == false || depth > 1)
        {
            return; // without the API, the referrers tag schema's sha256-… tags travel as ordinary tags
        }

        var referrers = await pass.Parent.ReferrersAsync(repository, subject, pass.Cancellation, useTagSchema: false);
        if (referrers is null)
        {
            pass.ReferrersApi = false;
            return;
        }

        pass.ReferrersApi = true;
        foreach (var referrer in referrers)
        {
            if (!_local.HasManifest(repository, referrer.Digest))
            {
                await EnsureManifestAsync(pass, repository, referrer.Digest, PlatformFilter.All, 1);
                await SyncReferrersAsync(pass, repository, referrer.Digest, depth + 1);
            }
        }
    }

    /// <summary>Stores everything <paramref name="manifest"/> references that the filter selects (not the manifest itself): child manifests, then blobs. Returns the children left out.</summary>
    private async Task<IReadOnlyCollection<Digest>> EnsureContentAsync(SyncPass pass, string repository, ManifestContent manifest, PlatformFilter platforms, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new ParentContentException("manifests nest too deep");
        }

        var parsed = manifest.Parse();
        var children = platforms.Select(parsed.Manifests);
        await Task.WhenAll(children.Selected.Select(child => EnsureManifestAsync(pass, repository, child.Digest, platforms, depth + 1)));
        using (await AnnounceAsync(pass, parsed.RequiredBlobs))
        {
            await Task.WhenAll(parsed.RequiredBlobs.Select(blob => pass.Blobs.EnsureAsync(pass.Parent, repository, blob, pass.Cancellation)));
        }

        return [.. children.LeftOut.Select(d => d.Digest)];
    }

    /// <summary>
    /// The bytes of <paramref name="blobs"/> that are neither here nor on their way (less what is staged of them),
    /// announced before they are fetched; null without a guard or when nothing is to come.
    /// </summary>
    private async Task<Storage.SpaceAnnouncement?> AnnounceAsync(SyncPass pass, IEnumerable<Descriptor> blobs)
    {
        if (_space is null)
        {
            return null;
        }

        var coming = blobs.DistinctBy(b => b.Digest)
            .Where(b => pass.Blobs.HereOrOnItsWay(b.Digest) is null)
            .Select(b => (b.Digest, Math.Max(0, b.Size - _local.StagedLength(b.Digest))))
            .Where(b => b.Item2 > 0)
            .ToList();
        return coming.Count == 0 ? null : await _space.AnnounceAsync(coming, pass.Cancellation);
    }

    /// <summary>Stores a manifest (by digest) and everything the filter selects under it, unless the repository already holds all of that.</summary>
    private async Task EnsureManifestAsync(SyncPass pass, string repository, Digest digest, PlatformFilter platforms, int depth)
    {
        if (_local.HasManifest(repository, digest))
        {
            await CompleteAsync(pass, repository, digest, platforms, depth); // stored with its references, except entries a filter left out
            return;
        }

        var manifest = await pass.Parent.GetManifestAsync(repository, digest.ToString(), pass.Cancellation)
            ?? throw new ParentContentException($"manifest {digest} is referenced but the parent does not have it");
        await StoreAsync(pass, repository, manifest, null, platforms, depth);
    }
}
