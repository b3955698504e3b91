using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The parent side of sync: the OCI Distribution calls sync makes to the registry above. Implemented by
/// <see cref="ParentRegistryClient"/>; tag sync, blob fetch, the sync-set resolver and sync up see only this.
/// Every call throws <see cref="ParentRegistryException"/> for an error answer, <see cref="ParentContentException"/>
/// for content that is not what it claims, and a network exception when the parent cannot be reached.
/// </summary>
public interface IParentRegistry
{
    /// <summary>The parent's base address: the key under which sync up keeps the parent's upload sessions.</summary>
    Uri Endpoint { get; }

    /// <summary>Every repository in the parent's catalog (all pages).</summary>
    Task<IReadOnlyList<string>> CatalogAsync(CancellationToken cancellationToken);

    /// <summary>Every tag of <paramref name="repository"/> (all pages), or null when the parent does not know it.</summary>
    Task<IReadOnlyList<string>?> ListTagsAsync(string repository, CancellationToken cancellationToken);

    /// <summary>HEAD a manifest by tag or digest: digest, media type and size, or null when the parent does not have it.</summary>
    Task<ManifestInfo?> HeadManifestAsync(string repository, string reference, CancellationToken cancellationToken);

    /// <summary>GET a manifest by tag or digest as its exact bytes, verified against its digest; null when absent.</summary>
    Task<ManifestContent?> GetManifestAsync(string repository, string reference, CancellationToken cancellationToken);

    /// <summary>GET a blob as a stream from byte <paramref name="offset"/> on when the parent honours <c>Range</c>.</summary>
    Task<BlobDownload> GetBlobAsync(string repository, Digest digest, long offset, CancellationToken cancellationToken);

    /// <summary>HEAD a blob: its size, or null when the parent does not have it in <paramref name="repository"/>.</summary>
    Task<long?> HeadBlobAsync(string repository, Digest digest, CancellationToken cancellationToken);

    /// <summary>
    /// The manifests that refer to <paramref name="subject"/>; without a referrers API, the tag schema's index when
    /// <paramref name="useTagSchema"/>, else null.
    /// </summary>
    Task<IReadOnlyList<Descriptor>?> ReferrersAsync(string repository, Digest subject, CancellationToken cancellationToken, bool useTagSchema = true);

    /// <summary>Mounts a blob from another repository of the parent; false when the parent would rather have it uploaded.</summary>
    Task<bool> MountBlobAsync(string repository, Digest digest, string fromRepository, CancellationToken cancellationToken);

    /// <summary>Uploads a whole blob (POST, PATCH, PUT <c>?digest=</c>).</summary>
    Task UploadBlobAsync(string repository, Digest digest, Stream content, long size, CancellationToken cancellationToken);

    /// <summary>POST a new upload session: where it is, and the parent's <c>OCI-Chunk-Min-Length</c> (0 when it sent none).</summary>
    Task<ParentUpload> StartUploadAsync(string repository, CancellationToken cancellationToken);

    /// <summary>
    /// GET an upload session: how many bytes it holds (from its <c>Range</c>); null when the parent no longer has it
    /// (404, <c>BLOB_UPLOAD_UNKNOWN</c>, <c>BLOB_UPLOAD_INVALID</c>).
    /// </summary>
    Task<ParentUpload?> UploadStatusAsync(ParentUpload upload, CancellationToken cancellationToken);

    /// <summary>
    /// PATCH one chunk (<c>Content-Range: offset-last</c>) of <paramref name="length"/> bytes read from
    /// <paramref name="content"/>: the session after it. Throws <see cref="ParentRegistryException"/> when refused
    /// (416 when the session holds other bytes than <paramref name="upload"/> says). With <paramref name="confirmFirst"/>
    /// the body waits for the parent's <c>100 Continue</c>, so a chunk the parent refuses up front does not cross the link.
    /// </summary>
    Task<ParentUpload> UploadChunkAsync(ParentUpload upload, Stream content, long length, CancellationToken cancellationToken, bool confirmFirst = false);

    /// <summary>PUT <c>?digest=</c> with no body: closes the session into the blob.</summary>
    Task CompleteUploadAsync(ParentUpload upload, Digest digest, CancellationToken cancellationToken);

    /// <summary>PUT a manifest (by tag or digest) with its exact bytes; returns its digest.</summary>
    Task<Digest> PutManifestAsync(string repository, string reference, byte[] bytes, string mediaType, CancellationToken cancellationToken);

    /// <summary>DELETE a manifest by digest; false when it was not there.</summary>
    Task<bool> DeleteManifestAsync(string repository, Digest digest, CancellationToken cancellationToken);

    /// <summary>DELETE a tag (OCI 1.1); older registries refuse with 400/405.</summary>
    Task DeleteTagAsync(string repository, string tag, CancellationToken cancellationToken);
}
