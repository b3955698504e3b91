using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Sync;

/// <summary>
/// <see cref="ISyncDestination"/> over the registry's own storage: manifests and tags in <see cref="RegistryStore"/>,
/// blobs being fetched in <see cref="PartialBlobStore"/>. Every write's disk error becomes a
/// <see cref="LocalStorageException"/> here, in one place, which ends the pass. Blobs and manifests reserve their size
/// on the data volume first and blobs are checked chunk by chunk (<see cref="FreeSpaceGuard.Reserve"/>): a write that
/// would take it below <c>storage.minFreeBytes</c> is a <see cref="StorageFullException"/> (sync down pauses; an
/// on-demand fetch stops), for sync passes and on-demand fetches alike. The reservation waits for an eviction of
/// content fetched on demand first when the write would take the volume below the eviction mark
/// (<see cref="FreeSpaceGuard.ReserveAsync"/>), and a blob's reservation takes over what the pass announced of it.
/// </summary>
public sealed class RegistryDestination : ISyncDestination
{
    private readonly RegistryStore _store;
    private readonly PartialBlobStore _partials;
    private readonly FreeSpaceGuard? _space;

    public RegistryDestination(RegistryStore store, PartialBlobStore partials, FreeSpaceGuard? space = null)
    {
        _store = store;
        _partials = partials;
        _space = space;
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
        GuardedAsync(content is ParentBlobStream blob ? blob.Remaining : 0, digest, cancellationToken, reservation =>
            LocalAsync(() => _partials.AppendAsync(digest, offset, reservation?.Guard(content) ?? content, cancellationToken, progress)));

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
        GuardedAsync(manifest.Bytes.Length, null, cancellationToken, _ => LocalAsync(() =>
            _store.PutManifestAsync(repository, manifest.Parse(), manifest.Digest, manifest.Bytes, tag, leftOut.Count == 0 ? null : leftOut, cancellationToken)));

    public async Task<bool> RemoveTagAsync(string repository, string tag, CancellationToken cancellationToken)
    {
        var removed = false;
        await LocalAsync(async () => removed = await _store.DeleteTagAsync(repository, tag, cancellationToken));
        return removed;
    }

    /// <summary>A write of <paramref name="declared"/> bytes under a reservation of the free-space guard (null without one).</summary>
    private async Task GuardedAsync(long declared, Digest? blob, CancellationToken cancellationToken, Func<SpaceReservation?, Task> write)
    {
        try
        {
            using var reservation = _space is null ? null : await _space.ReserveAsync(declared, "sync down is paused until space is freed", cancellationToken, blob);
            await write(reservation);
        }
        catch (InsufficientSpaceException ex)
        {
            throw StorageFullException.Paused(ex.Check);
        }
    }

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
