using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Bundles;

/// <summary>
/// A verified bundle seen as the parent of a sync pass, so that import stores manifests and sets tags through the
/// same <see cref="TagSync"/> and <see cref="ManifestGraphSync"/> as sync down: manifests come from the bundle (read
/// and verified into memory), blobs were staged and committed before the pass, so the pass fetches none; a blob that
/// is neither in the bundle nor here fails its tag. Read-only: the write calls are not part of an import.
/// </summary>
internal sealed class BundleSource(IReadOnlyDictionary<Digest, ManifestContent> manifests, IReadOnlyList<BundleRepository> repositories) : ReadOnlySource
{
    public override Task<IReadOnlyList<string>> CatalogAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<string>>([.. repositories.Select(r => r.Name)]);

    public override Task<IReadOnlyList<string>?> ListTagsAsync(string repository, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<string>?>(repositories.FirstOrDefault(r => r.Name == repository)?.Tags.Keys.ToList());

    public override Task<ManifestInfo?> HeadManifestAsync(string repository, string reference, CancellationToken cancellationToken) =>
        Task.FromResult(Find(repository, reference) is { } m ? new ManifestInfo(m.Digest, m.MediaType, m.Bytes.LongLength) : null);

    public override Task<ManifestContent?> GetManifestAsync(string repository, string reference, CancellationToken cancellationToken) =>
        Task.FromResult(Find(repository, reference));

    public override Task<BlobDownload> GetBlobAsync(string repository, Digest digest, long offset, CancellationToken cancellationToken) =>
        throw new ParentContentException($"blob {digest} is neither in the bundle nor in this registry");

    public override Task<long?> HeadBlobAsync(string repository, Digest digest, CancellationToken cancellationToken) => Task.FromResult<long?>(null);

    /// <summary>The bundle's manifests of <paramref name="repository"/> whose subject is <paramref name="subject"/>.</summary>
    public override Task<IReadOnlyList<Descriptor>?> ReferrersAsync(string repository, Digest subject, CancellationToken cancellationToken, bool useTagSchema = true)
    {
        var list = new List<Descriptor>();
        foreach (var digest in repositories.FirstOrDefault(r => r.Name == repository)?.Manifests ?? [])
        {
            if (manifests.TryGetValue(digest, out var manifest) && manifest.Parse() is { Subject: { } s } parsed && s.Digest == subject)
            {
                list.Add(new Descriptor(manifest.MediaType, digest, manifest.Bytes.LongLength, parsed.ArtifactType));
            }
        }

        return Task.FromResult<IReadOnlyList<Descriptor>?>(list);
    }


    private ManifestContent? Find(string repository, string reference)
    {
        var entry = repositories.FirstOrDefault(r => r.Name == repository);
        if (entry is null)
        {
            return null;
        }

        var digest = Digest.TryParse(reference, out var d) ? d : entry.Tags.GetValueOrDefault(reference);
        return entry.Manifests.Contains(digest) ? manifests.GetValueOrDefault(digest) : null;
    }
}
