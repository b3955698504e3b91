using System.Collections.Concurrent;
using ConnectedRegistry.Oci;
using Polly.CircuitBreaker;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Fetches blobs from the parent into the local side: never one that is stored already (in any repository);
/// at most <see cref="SyncOptions.ParallelBlobs"/> at a time; resumable (what arrived before a break stays staged
/// and the next attempt asks for the rest with <c>Range</c>); verified against the digest before it becomes a blob
/// (a mismatch is dropped and fetched again from 0), up to <see cref="SyncOptions.BlobAttempts"/> attempts.
/// Single-flight: concurrent requests for one digest share one download, and its outcome, for the life of the
/// fetcher (sync down makes one per pass). The bytes land in the staged file as they arrive
/// (<see cref="ISyncDestination.StagedLength"/> grows), so a reader waiting on <see cref="EnsureAsync"/> for
/// the same digest can follow them before the blob is committed.
/// </summary>
public sealed partial class BlobFetcher : IDisposable
{
    private readonly ISyncDestination _local;
    private readonly SyncOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SyncPassMeter? _meter;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentDictionary<Digest, Lazy<Task>> _inFlight = new();
    private readonly bool _longLived;

    /// <param name="longLived">
    /// A fetcher that outlives a pass (on-demand fetch): a finished download is forgotten, so a failed one is tried
    /// again by the next request instead of failing it for the life of the fetcher.
    /// </param>
    public BlobFetcher(ISyncDestination local, SyncOptions options, TimeProvider time, ILogger logger, SyncPassMeter? meter = null, bool longLived = false)
    {
        _longLived = longLived;
        _local = local;
        _options = options;
        _time = time;
        _logger = logger;
        _meter = meter;
        _slots = new SemaphoreSlim(Math.Max(1, options.ParallelBlobs));
    }

    /// <summary>
    /// Completes when <paramref name="blob"/> is stored and linked to <paramref name="repository"/> (or was stored
    /// already). The download runs under the first caller's <paramref name="cancellationToken"/>.
    /// </summary>
    public Task EnsureAsync(IParentRegistry parent, string repository, Descriptor blob, CancellationToken cancellationToken)
    {
        if (_local.HasBlob(blob.Digest))
        {
            return Task.CompletedTask; // storing the manifest links it to the repository
        }

        var entry = _inFlight.GetOrAdd(blob.Digest, _ => new Lazy<Task>(() => FetchAsync(parent, repository, blob, cancellationToken)));
        var fetch = entry.Value;
        if (_longLived)
        {
            _ = fetch.ContinueWith(_ => _inFlight.TryRemove(new KeyValuePair<Digest, Lazy<Task>>(blob.Digest, entry)), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return fetch;
    }

    public void Dispose() => _slots.Dispose();

    private async Task FetchAsync(IParentRegistry parent, string repository, Descriptor blob, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
        try
        {
            if (_local.HasBlob(blob.Digest))
            {
                return;
            }

            _meter?.BlobPlanned(blob.Size);
            var transfer = new Transfer(blob, _meter);
            Exception? last = null;
            for (var attempt = 1; attempt <= Math.Max(1, _options.BlobAttempts); attempt++)
            {
                last = await AttemptAsync(parent, repository, transfer, attempt, cancellationToken);
                if (last is null)
                {
                    _meter?.BlobFetched();
                    Log.BlobFetched(_logger, blob.Digest.ToString(), blob.Size);
                    return;
                }

                if (last is BrokenCircuitException)
                {
                    break;
                }

                if (attempt < _options.BlobAttempts)
                {
                    await Task.Delay(_options.BlobRetryPause, _time, cancellationToken);
                }
            }

            throw last ?? new ParentContentException($"blob {blob.Digest} could not be fetched");
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>One attempt: null when the blob is stored, else why it is not (errors that end the pass are thrown).</summary>
    private async Task<Exception?> AttemptAsync(IParentRegistry parent, string repository, Transfer transfer, int attempt, CancellationToken cancellationToken)
    {
        var blob = transfer.Blob;
        var offset = ResumeOffset(transfer, attempt);
        try
        {
            if (offset < blob.Size || blob.Size == 0)
            {
                await DownloadAsync(parent, repository, transfer, offset, cancellationToken);
            }

            await _local.CommitBlobAsync(repository, blob.Digest, cancellationToken);
            return null;
        }
        catch (OciException ex) when (ex.Error.Code == OciErrorCode.DigestInvalid.Code)
        {
            transfer.Restart(); // the local side dropped the staged bytes
            Log.BlobCorrupt(_logger, blob.Digest.ToString(), attempt);
            return new ParentContentException($"blob {blob.Digest} from the parent did not match its digest");
        }
        catch (ParentContentException ex)
        {
            _local.DiscardStaged(blob.Digest);
            transfer.Restart();
            Log.BlobCorrupt(_logger, blob.Digest.ToString(), attempt);
            return ex;
        }
        catch (Exception ex) when (SyncDown.IsUnreachable(ex) && !cancellationToken.IsCancellationRequested)
        {
            // the bytes that arrived stay staged for the next attempt
            Log.BlobInterrupted(_logger, blob.Digest.ToString(), _local.StagedLength(blob.Digest), ex.Message);
            return ex;
        }
    }

    /// <summary>Where the next attempt starts: the staged length, or 0 when what is staged cannot be this blob's.</summary>
    private long ResumeOffset(Transfer transfer, int attempt)
    {
        var blob = transfer.Blob;
        var offset = _local.StagedLength(blob.Digest);
        if (offset > blob.Size)
        {
            _local.DiscardStaged(blob.Digest);
            offset = 0;
        }

        if (attempt == 1 && offset > 0)
        {
            transfer.MoveTo(offset);
            Log.BlobResumed(_logger, blob.Digest.ToString(), offset, blob.Size);
        }

        return offset;
    }

    private async Task DownloadAsync(IParentRegistry parent, string repository, Transfer transfer, long offset, CancellationToken cancellationToken)
    {
        var blob = transfer.Blob;
        await using var download = await parent.GetBlobAsync(repository, blob.Digest, offset, cancellationToken);
        if (download.Offset < transfer.Counted)
        {
            transfer.MoveTo(download.Offset); // Range not honoured: start over
        }

        var content = new ParentBlobStream(download.Content, blob.Size - download.Offset, transfer.Arrived);
        await _local.StageBlobAsync(blob.Digest, download.Offset, content, cancellationToken);
    }

    /// <summary>One blob's bytes as the pass's progress counts them.</summary>
    private sealed class Transfer(Descriptor blob, SyncPassMeter? meter)
    {
        public Descriptor Blob { get; } = blob;

        public long Counted { get; private set; }

        public void MoveTo(long offset)
        {
            meter?.BytesCounted(offset - Counted);
            Counted = offset;
        }

        public void Restart() => MoveTo(0);

        public void Arrived(int bytes)
        {
            meter?.BytesDownloadedNow(bytes);
            Counted += bytes;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4043, Level = LogLevel.Debug, Message = "Fetched blob {Digest} ({Size} bytes)")]
        public static partial void BlobFetched(ILogger logger, string digest, long size);

        [LoggerMessage(EventId = 4044, Level = LogLevel.Debug, Message = "Resuming blob {Digest} at {Offset} of {Size} bytes")]
        public static partial void BlobResumed(ILogger logger, string digest, long offset, long size);

        [LoggerMessage(EventId = 4045, Level = LogLevel.Warning, Message = "Blob {Digest} from the parent did not match its digest (attempt {Attempt}); discarded")]
        public static partial void BlobCorrupt(ILogger logger, string digest, int attempt);

        [LoggerMessage(EventId = 4046, Level = LogLevel.Debug, Message = "Blob {Digest} interrupted at {Stored} bytes: {Reason}")]
        public static partial void BlobInterrupted(ILogger logger, string digest, long stored, string reason);
    }
}
