using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Storage;

/// <summary>
/// Content-addressed blob files. A blob is written to a file in the staging area (or appended to an upload
/// session or a partial download) while it is hashed in the same pass, flushed to disk, verified against
/// its digest and only then renamed into <c>blobs/</c>: a blob file that exists is always whole and correct.
/// The running hash of an append-only file is cached between appends; this class alone keeps that cache right:
/// every change it does not make itself (truncate, commit, discard) goes through one of its methods.
/// </summary>
public sealed class BlobStore
{
    /// <summary>
    /// The copy buffer of an append or a stage, rented from the shared pool, which keeps it after the copy (one per
    /// thread that copied, and more per core): 256 KiB rather than 1 MiB keeps that retained memory a quarter as large.
    /// </summary>
    private const int BufferSize = 256 * 1024;

    private readonly DataLayout _layout;

    /// <summary>Running hashes of append-only files (upload sessions, partial blobs), valid while their length matches.</summary>
    private readonly ConcurrentDictionary<string, RunningHash> _hashes = new(StringComparer.Ordinal);

    public BlobStore(DataLayout layout)
    {
        _layout = layout;
    }

    public DataLayout Layout => _layout;

    public bool Exists(Digest digest) => File.Exists(_layout.BlobPath(digest));

    public long? Size(Digest digest)
    {
        var info = new FileInfo(_layout.BlobPath(digest));
        return info.Exists ? info.Length : null;
    }

    public string PathOf(Digest digest) => _layout.BlobPath(digest);

    /// <summary>The blob's file, unbuffered: its readers read in large chunks, and a FileStream buffer would be a new array per open.</summary>
    public FileStream OpenRead(Digest digest) =>
        new(_layout.BlobPath(digest), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, bufferSize: 0, FileOptions.Asynchronous | FileOptions.SequentialScan);

    /// <summary>Writes <paramref name="content"/> to a new staging file while hashing it; returns the file and its digest.</summary>
    public async Task<StagedBlob> StageAsync(Stream content, string algorithm, long? maxLength, CancellationToken cancellationToken)
    {
        var path = _layout.NewStagingPath();
        Directory.CreateDirectory(_layout.StagingDirectory);
        try
        {
            using var hasher = Digest.CreateHasher(algorithm);
            long length;
            await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                length = await CopyHashingAsync(content, file, hasher, maxLength, cancellationToken);
                file.Flush(flushToDisk: true);
            }

            return new StagedBlob(path, Digest.FromHash(algorithm, hasher.GetCurrentHash()), length);
        }
        catch
        {
            TryDelete(path);
            throw;
        }
    }

    /// <summary>
    /// Moves a verified file into place under its digest (atomic rename on the same volume). When the blob
    /// already exists the file is dropped: identical content is stored once.
    /// </summary>
    /// <returns>True when this call created the blob.</returns>
    public bool Commit(string verifiedPath, Digest digest)
    {
        Forget(verifiedPath);
        var target = _layout.BlobPath(digest);
        if (File.Exists(target))
        {
            TryDelete(verifiedPath);
            return false;
        }

        var folder = Path.GetDirectoryName(target)!;
        var newFolder = !Directory.Exists(folder);
        Directory.CreateDirectory(folder);
        File.Move(verifiedPath, target, overwrite: true);

        // The rename (and a new 2-hex folder) must be on disk before any manifest that references the blob commits.
        DurableDirectory.Sync(folder);
        if (newFolder)
        {
            DurableDirectory.Sync(Path.GetDirectoryName(folder)!);
        }

        return true;
    }

    /// <summary>Deletes a blob file; false when it was not there.</summary>
    public bool Delete(Digest digest)
    {
        var path = _layout.BlobPath(digest);
        if (!File.Exists(path))
        {
            return false;
        }

        File.Delete(path);
        return true;
    }

    /// <summary>Every blob file (digest, size, last write time), for garbage collection and statistics.</summary>
    public IEnumerable<(Digest Digest, long Size, DateTime LastWriteUtc)> Enumerate()
    {
        foreach (var algorithmDirectory in SafeDirectories(_layout.BlobsDirectory))
        {
            var algorithm = Path.GetFileName(algorithmDirectory);
            foreach (var prefixDirectory in SafeDirectories(algorithmDirectory))
            {
                IEnumerable<FileInfo> files;
                try
                {
                    files = new DirectoryInfo(prefixDirectory).EnumerateFiles().ToList();
                }
                catch (DirectoryNotFoundException)
                {
                    continue;
                }

                foreach (var file in files)
                {
                    if (Digest.TryParse(algorithm + ":" + file.Name, out var digest))
                    {
                        yield return (digest, file.Length, file.LastWriteTimeUtc);
                    }
                }
            }
        }
    }

    /// <summary>Current length of an append-only file (0 when it does not exist).</summary>
    public static long LengthOf(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? info.Length : 0;
    }

    /// <summary>
    /// Appends to an append-only file (an upload session's data or a partial blob), hashing as it writes.
    /// When <paramref name="expectedOffset"/> is given it must equal the file's length. On any failure
    /// the file keeps the bytes that reached it and the running hash is forgotten (rebuilt from disk later).
    /// </summary>
    /// <param name="progress">Told the file's length after each chunk is written and hashed (a reader may follow it).</param>
    /// <returns>The file's new length.</returns>
    public async Task<long> AppendAsync(string path, Stream content, long? expectedLength, CancellationToken cancellationToken, Action<long>? progress = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await using var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 1, FileOptions.Asynchronous);
        var start = file.Length;
        var running = await GetRunningHashAsync(path, file, cancellationToken);
        file.Seek(start, SeekOrigin.Begin);
        try
        {
            var written = await CopyHashingAsync(content, file, running.Hasher, null, cancellationToken, progress is null ? null : n => progress(start + n));
            running.Length = start + written;
            if (expectedLength is { } expected && written != expected)
            {
                file.SetLength(start);
                throw new AppendLengthMismatchException(expected, written);
            }

            await file.FlushAsync(cancellationToken);
            return running.Length;
        }
        catch (Exception ex)
        {
            if (FreeSpaceGuard.IsOutOfSpace(ex))
            {
                // A write cut by a full volume: drop the bytes of this append (they free space; the client resends the chunk).
                try
                {
                    file.SetLength(start);
                }
                catch (IOException)
                {
                }
            }

            if (_hashes.TryRemove(path, out var dropped))
            {
                dropped.Hasher.Dispose();
            }

            throw;
        }
    }

    /// <summary>
    /// The digest of an append-only file, from its running hash when current, else by reading it once. With
    /// <paramref name="flushToDisk"/> the file is flushed to disk first; without, the caller flushes it
    /// (<see cref="FlushToDisk"/>) before it commits the file.
    /// </summary>
    public async Task<Digest> DigestOfAsync(string path, string algorithm, CancellationToken cancellationToken, bool flushToDisk = true)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, 1, FileOptions.Asynchronous);
        if (flushToDisk)
        {
            file.Flush(flushToDisk: true);
        }

        if (algorithm == Digest.Sha256)
        {
            var running = await GetRunningHashAsync(path, file, cancellationToken);
            return Digest.FromHash(Digest.Sha256, running.Hasher.GetCurrentHash());
        }

        using var hasher = Digest.CreateHasher(algorithm);
        file.Seek(0, SeekOrigin.Begin);
        await CopyHashingAsync(file, Stream.Null, hasher, null, cancellationToken);
        return Digest.FromHash(algorithm, hasher.GetCurrentHash());
    }

    /// <summary>Flushes a file's bytes to disk (before it is renamed into place).</summary>
    public static void FlushToDisk(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, 1);
        file.Flush(flushToDisk: true);
    }

    /// <summary>Cuts an append-only file back to <paramref name="length"/> bytes (its running hash is rebuilt on the next use).</summary>
    public async Task TruncateAsync(string path, long length)
    {
        Forget(path);
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
        file.SetLength(length);
    }

    /// <summary>Deletes an append-only file (an abandoned upload or partial blob) and its running hash.</summary>
    public void Discard(string path)
    {
        Forget(path);
        TryDelete(path);
    }

    private void Forget(string path)
    {
        if (_hashes.TryRemove(path, out var running))
        {
            running.Hasher.Dispose();
        }
    }

    /// <summary>Deletes every staging file: any that exist at start-up are leftovers of a crash.</summary>
    public int PurgeStaging(TimeSpan minAge, DateTime nowUtc)
    {
        var count = 0;
        if (!Directory.Exists(_layout.StagingDirectory))
        {
            return 0;
        }

        foreach (var file in new DirectoryInfo(_layout.StagingDirectory).EnumerateFiles())
        {
            if (nowUtc - file.LastWriteTimeUtc >= minAge)
            {
                TryDelete(file.FullName);
                count++;
            }
        }

        return count;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private async Task<RunningHash> GetRunningHashAsync(string path, FileStream file, CancellationToken cancellationToken)
    {
        if (_hashes.TryGetValue(path, out var cached) && cached.Length == file.Length)
        {
            return cached;
        }

        var hasher = Digest.CreateHasher(Digest.Sha256);
        file.Seek(0, SeekOrigin.Begin);
        var length = await CopyHashingAsync(file, Stream.Null, hasher, null, cancellationToken);
        var running = new RunningHash(hasher) { Length = length };
        if (_hashes.TryRemove(path, out var old))
        {
            old.Hasher.Dispose();
        }

        _hashes[path] = running;
        return running;
    }

    private static async Task<long> CopyHashingAsync(Stream source, Stream destination, IncrementalHash hasher, long? maxLength, CancellationToken cancellationToken, Action<long>? copied = null)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long total = 0;
            int read;
            while ((read = await source.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken)) > 0)
            {
                total += read;
                if (maxLength is { } max && total > max)
                {
                    throw new AppendLengthMismatchException(max, total);
                }

                await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                hasher.AppendData(buffer, 0, read);
                copied?.Invoke(total);
            }

            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static IEnumerable<string> SafeDirectories(string path)
    {
        try
        {
            return Directory.Exists(path) ? Directory.GetDirectories(path) : [];
        }
        catch (DirectoryNotFoundException)
        {
            return [];
        }
    }

    private sealed class RunningHash(IncrementalHash hasher)
    {
        public IncrementalHash Hasher { get; } = hasher;

        public long Length { get; set; }
    }
}

/// <summary>A verified-length file in the staging area with the digest of its bytes.</summary>
public sealed record StagedBlob(string Path, Digest Digest, long Length);

/// <summary>The body carried a different number of bytes than the request declared.</summary>
public sealed class AppendLengthMismatchException(long expected, long actual)
    : Exception($"expected {expected} bytes, received {actual}")
{
    public long Expected { get; } = expected;

    public long Actual { get; } = actual;
}
