using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The manifest graph walk of sync down: stores a manifest only after everything it references — child manifests
/// of an index first (depth-first, at most <see cref="MaxDepth"/> levels), then configs and layers through the pass's
/// <see cref="BlobFetcher"/> — so the local side never holds a manifest (or a tag) whose content is incomplete.
/// Then the referrers (signatures, SBOMs) of what was synced, and theirs in turn.
/// </summary>
public sealed class ManifestGraphSync
{
    private const int MaxDepth = 4;
    private readonly ISyncDestination _local;

    public ManifestGraphSync(ISyncDestination local)
    {
        _local = local;
    }

    /// <summary>Stores <paramref name="manifest"/> with everything it references, and sets <paramref name="tag"/> with it.</summary>
    public async Task StoreAsync(SyncPass pass, string repository, ManifestContent manifest, string? tag, int depth = 0)
    {
        await EnsureContentAsync(pass, repository, manifest, depth);
        await _local.PutManifestAsync(repository, manifest, tag, pass.Cancellation);
        pass.Meter.ManifestStored();
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
                await EnsureManifestAsync(pass, repository, referrer.Digest, 1);
                await SyncReferrersAsync(pass, repository, referrer.Digest, depth + 1);
            }
        }
    }

    /// <summary>Stores everything <paramref name="manifest"/> references (not the manifest itself): child manifests, then blobs.</summary>
    private async Task EnsureContentAsync(SyncPass pass, string repository, ManifestContent manifest, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new ParentContentException("manifests nest too deep");
        }

        var parsed = manifest.Parse();
        await Task.WhenAll(parsed.Manifests.Select(child => EnsureManifestAsync(pass, repository, child.Digest, depth + 1)));
        await Task.WhenAll(parsed.RequiredBlobs.Select(blob => pass.Blobs.EnsureAsync(pass.Parent, repository, blob, pass.Cancellation)));
    }

    /// <summary>Stores a manifest (by digest) and everything it references, unless the repository already holds it.</summary>
    private async Task EnsureManifestAsync(SyncPass pass, string repository, Digest digest, int depth)
    {
        if (_local.HasManifest(repository, digest))
        {
            return; // stored manifests are complete: the store refuses one whose references are missing
        }

        var manifest = await pass.Parent.GetManifestAsync(repository, digest.ToString(), pass.Cancellation)
            ?? throw new ParentContentException($"manifest {digest} is referenced but the parent does not have it");
        await StoreAsync(pass, repository, manifest, null, depth);
    }
}
