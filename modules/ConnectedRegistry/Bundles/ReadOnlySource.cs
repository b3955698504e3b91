using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Bundles;

/// <summary>
/// A registry that bundles only read through <see cref="IParentRegistry"/> (a verified bundle on import, a data root
/// on export): the write calls of sync up are refused in one place.
/// </summary>
internal abstract class ReadOnlySource : IParentRegistry
{
    /// <summary>A name for the source (sync up keys upload sessions by it; nothing is uploaded to a read-only source).</summary>
    public Uri Endpoint { get; } = new("bundle://read-only/");

    public abstract Task<IReadOnlyList<string>> CatalogAsync(CancellationToken cancellationToken);

    public abstract Task<IReadOnlyList<string>?> ListTagsAsync(string repository, CancellationToken cancellationToken);

    public abstract Task<ManifestInfo?> HeadManifestAsync(string repository, string reference, CancellationToken cancellationToken);

    public abstract Task<ManifestContent?> GetManifestAsync(string repository, string reference, CancellationToken cancellationToken);

    public abstract Task<BlobDownload> GetBlobAsync(string repository, Digest digest, long offset, CancellationToken cancellationToken);

    public abstract Task<long?> HeadBlobAsync(string repository, Digest digest, CancellationToken cancellationToken);

    public abstract Task<IReadOnlyList<Descriptor>?> ReferrersAsync(string repository, Digest subject, CancellationToken cancellationToken, bool useTagSchema = true);

    public Task<bool> MountBlobAsync(string repository, Digest digest, string fromRepository, CancellationToken cancellationToken) => throw ReadOnly();

    public Task UploadBlobAsync(string repository, Digest digest, Stream content, long size, CancellationToken cancellationToken) => throw ReadOnly();

    public Task<Digest> PutManifestAsync(string repository, string reference, byte[] bytes, string mediaType, CancellationToken cancellationToken) => throw ReadOnly();

    public Task<bool> DeleteManifestAsync(string repository, Digest digest, CancellationToken cancellationToken) => throw ReadOnly();

    public Task DeleteTagAsync(string repository, string tag, CancellationToken cancellationToken) => throw ReadOnly();

    public Task<ParentUpload> StartUploadAsync(string repository, CancellationToken cancellationToken) => throw ReadOnly();

    public Task<ParentUpload> UploadChunkAsync(ParentUpload upload, Stream content, long length, CancellationToken cancellationToken, bool confirmFirst = false) => throw ReadOnly();

    public Task<ParentUpload?> UploadStatusAsync(ParentUpload upload, CancellationToken cancellationToken) => throw ReadOnly();

    public Task CompleteUploadAsync(ParentUpload upload, Digest digest, CancellationToken cancellationToken) => throw ReadOnly();

    private NotSupportedException ReadOnly() => new($"{GetType().Name} is read-only");
}
