using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Bundles;

/// <summary>
/// A data root of this module as the source of an export (<c>bundle export --from-data DIR</c>): the registry's
/// own store seen through <see cref="IParentRegistry"/>, so export reads it exactly as it reads a remote registry.
/// Read-only: the write calls are not part of an export.
/// </summary>
internal sealed class DataRootSource(RegistryStore store) : ReadOnlySource
{
    public override Task<IReadOnlyList<string>> CatalogAsync(CancellationToken cancellationToken) => Task.FromResult(store.ListRepositories());

    public override Task<IReadOnlyList<string>?> ListTagsAsync(string repository, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<string>?>(store.RepositoryExists(repository) ? [.. store.ListTags(repository).Select(t => t.Tag)] : null);

    public override Task<ManifestInfo?> HeadManifestAsync(string repository, string reference, CancellationToken cancellationToken) =>
        Task.FromResult(store.GetManifest(repository, reference) is { } m ? new ManifestInfo(m.Digest, m.MediaType, m.Size) : null);

    public override Task<ManifestContent?> GetManifestAsync(string repository, string reference, CancellationToken cancellationToken) =>
        Task.FromResult(store.GetManifest(repository, reference) is { } m ? new ManifestContent(m.Content, m.MediaType, m.Digest) : null);

    public override Task<BlobDownload> GetBlobAsync(string repository, Digest digest, long offset, CancellationToken cancellationToken)
    {
        if (!store.IsBlobInRepository(repository, digest) || store.GetBlobSize(digest) is not { } size)
        {
            throw new ParentContentException($"blob {digest} is not in {repository} in the data root");
        }

        return Task.FromResult(new BlobDownload(null, store.OpenBlob(digest), 0, size));
    }

    public override Task<long?> HeadBlobAsync(string repository, Digest digest, CancellationToken cancellationToken) =>
        Task.FromResult(store.IsBlobInRepository(repository, digest) ? store.GetBlobSize(digest) : null);

    public override Task<IReadOnlyList<Descriptor>?> ReferrersAsync(string repository, Digest subject, CancellationToken cancellationToken, bool useTagSchema = true) =>
        Task.FromResult<IReadOnlyList<Descriptor>?>(store.ListReferrers(repository, subject));

}
