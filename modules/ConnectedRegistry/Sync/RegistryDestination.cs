using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Sync;

/// <summary>
/// <see cref="ISyncDestination"/> over the registry's own storage: manifests and tags in <see cref="RegistryStore"/>,
/// blobs being fetched in <see cref="PartialBlobStore"/>. Every write's disk error becomes a
/// <see cref="LocalStorageException"/> here, in one place, which ends the pass.
/// </summary>
public sealed class RegistryDestination : ISyncDestination
{
    private readonly RegistryStore _store;
    private readonly PartialBlobStore _partials;

    public RegistryDestination(RegistryStore store, PartialBlobStore partials)
    {
        _store = store;
        _partials = partials;
    }

    public bool HasBlob(Digest digest) => _store.BlobExists(digest);

    public long? BlobSize(Digest digest) => _store.GetBlobSize(digest);

    public bool HasManifest(string repository, Digest digest) => _store.GetManifest(repository, Reference.FromDigest(digest)) is not null;

    public ManifestContent? GetManifest(string repository, Digest digest) =>
        _store.GetManifest(repository, Reference.FromDigest(digest)) is { } stored ? new ManifestContent(stored.Content, stored.MediaType, stored.Digest) : null;

    public IReadOnlyDictionary<string, Digest> Tags(string repository) =>
        _store.ListTags(repository).ToDictionary(t => t.Tag, t => t.Digest, StringComparer.Ordinal);

    public long StagedLength(Digest digest) => _partials.GetLength(digest);

    public Task StageBlobAsync(Digest digest, long offset, Stream content, Action<long>? progress, CancellationToken cancellationToken) =>
        LocalAsync(() => _partials.AppendAsync(digest, offset, content, cancellationToken, progress));

    public void DiscardStaged(Digest digest) => _partials.Delete(digest);

    public Task CommitBlobAsync(string repository, Digest digest, Action? verified, CancellationToken cancellationToken) =>
        LocalAsync(() => _partials.CommitAsync(repository, digest, cancellationToken, verified));

    public async Task<bool> LinkBlobAsync(string repository, Digest digest, CancellationToken cancellationToken)
    {
        var linked = false;
        await LocalAsync(async () => linked = await _store.LinkBlobAsync(repository, digest, cancellationToken));
        return linked;
    }

    public Task PutManifestAsync(string repository, ManifestContent manifest, string? tag, IReadOnlyCollection<Digest> leftOut, CancellationToken cancellationToken) =>
        LocalAsync(() => leftOut.Count == 0
            ? _store.PutManifestAsync(repository, manifest.Bytes, manifest.MediaType, tag, manifest.Digest, cancellationToken)
            : _store.PutFilteredManifestAsync(repository, manifest.Bytes, manifest.MediaType, tag, manifest.Digest, leftOut, cancellationToken));

    public Task RemoveTagAsync(string repository, string tag, CancellationToken cancellationToken) =>
        LocalAsync(() => _store.DeleteTagAsync(repository, tag, cancellationToken));

    /// <summary>A write to the local store: a disk error becomes <see cref="LocalStorageException"/>.</summary>
    internal static async Task LocalAsync(Func<Task> write)
    {
        try
        {
            await write();
        }
        catch (Exception ex) when (LocalStorageException.IsDiskError(ex))
        {
            throw new LocalStorageException(ex);
        }
    }

    /// <summary>A synchronous write (sync.db): a disk error becomes <see cref="LocalStorageException"/>.</summary>
    internal static void Local(Action write)
    {
        try
        {
            write();
        }
        catch (Exception ex) when (LocalStorageException.IsDiskError(ex))
        {
            throw new LocalStorageException(ex);
        }
    }
}
