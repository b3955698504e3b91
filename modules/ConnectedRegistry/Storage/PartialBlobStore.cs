using ConnectedRegistry.Oci;
using Microsoft.Win32.SafeHandles;

namespace ConnectedRegistry.Storage;

/// <summary>
/// Blobs being fetched from a parent, kept in <c>partial/&lt;algorithm&gt;/&lt;hex&gt;</c> between attempts so
/// that a transfer that broke resumes with <c>Range: bytes=N-</c>. A partial file is hashed while it is written;
/// it becomes a blob only once its digest is verified. Appends to and commits of one digest are serialised.
/// </summary>
public sealed class PartialBlobStore
{
    private readonly DataLayout _layout;
    private readonly BlobStore _blobs;
    private readonly RepositoryBlobs _links;
    private readonly KeyedLock _locks = new();

    public PartialBlobStore(DataLayout layout, BlobStore blobs, RepositoryBlobs links)
    {
        _layout = layout;
        _blobs = blobs;
        _links = links;
    }

    /// <summary>How many bytes of the blob are already on disk (0 when none).</summary>
    public long GetLength(Digest digest) => BlobStore.LengthOf(_layout.PartialPath(digest));

    /// <summary>
    /// Appends to the partial file of <paramref name="digest"/> starting at <paramref name="offset"/>, which
    /// must be ≤ the current partial length (a shorter offset truncates first). Bytes that arrived before a
    /// failure stay on disk for the next attempt. Returns the new partial length.
    /// </summary>
    /// <param name="progress">Told the partial file's length after each chunk is written and hashed.</param>
    public async Task<long> AppendAsync(Digest digest, long offset, Stream content, CancellationToken cancellationToken = default, Action<long>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var path = _layout.PartialPath(digest);
        using var _ = await _locks.AcquireAsync(path, cancellationToken);
        var length = BlobStore.LengthOf(path);
        if (offset > length)
        {
            throw new InvalidOperationException($"cannot append at {offset}: only {length} bytes of the partial blob are stored");
        }

        if (offset < length)
        {
            await _blobs.TruncateAsync(path, offset);
        }

        return await _blobs.AppendAsync(path, content, null, cancellationToken, progress);
    }

    /// <summary>
    /// Verifies the partial file of <paramref name="digest"/> and moves it into place as a blob of
    /// <paramref name="repository"/>. On a mismatch the partial file is deleted and a <see cref="DigestMismatchException"/>
    /// is thrown (the next attempt starts from 0). <paramref name="verified"/> is called once the digest matched,
    /// before the file is flushed to disk and moved: a reader following the download may finish then.
    /// </summary>
    public async Task<BlobInfo> CommitAsync(string repository, Digest digest, CancellationToken cancellationToken = default, Action? verified = null)
    {
        RegistryStore.CheckRepository(repository);
        var path = _layout.PartialPath(digest);
        using var _ = await _locks.AcquireAsync(path, cancellationToken);
        if (!File.Exists(path))
        {
            if (await _links.LinkAsync(repository, digest, cancellationToken))
            {
                verified?.Invoke();
                return new BlobInfo(digest, _blobs.Size(digest) ?? 0);
            }

            throw new PartialBlobMissingException();
        }

        var actual = await _blobs.DigestOfAsync(path, digest.Algorithm, cancellationToken, flushToDisk: false);
        if (actual != digest)
        {
            _blobs.Discard(path);
            throw new DigestMismatchException(digest, actual, "partial blob content did not match its digest");
        }

        verified?.Invoke();
        BlobStore.FlushToDisk(path);

        return await _links.CommitAsync(repository, path, digest, BlobStore.LengthOf(path), cancellationToken);
    }

    /// <summary>
    /// Opens the bytes of a blob being fetched, for a reader that follows the fetch while it writes them: its partial
    /// file, or the blob once the fetch moved it into place (a reader that comes while the rename happens gets the
    /// blob). Null when neither is there: nothing staged yet, or the fetch dropped what it had. The handle shares the
    /// file with the writer, which may go on appending to it, rename it or delete it.
    /// </summary>
    public SafeFileHandle? OpenFetched(Digest digest)
    {
        foreach (var path in (ReadOnlySpan<string>)[_layout.PartialPath(digest), _blobs.PathOf(digest)])
        {
            try
            {
                return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.SequentialScan);
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                // moved into place, or not there (yet, or any more)
            }
        }

        return null;
    }

    /// <summary>Drops what was fetched of the blob so far.</summary>
    public void Delete(Digest digest) => _blobs.Discard(_layout.PartialPath(digest));

    /// <summary>Deletes partial files not written since <paramref name="cutoffUtc"/> (a fetch given up on); returns how many.</summary>
    public int PurgeStale(DateTime cutoffUtc)
    {
        if (!Directory.Exists(_layout.PartialDirectory))
        {
            return 0;
        }

        var purged = 0;
        foreach (var file in new DirectoryInfo(_layout.PartialDirectory).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            if (file.LastWriteTimeUtc < cutoffUtc)
            {
                _blobs.Discard(file.FullName);
                purged++;
            }
        }

        return purged;
    }
}
