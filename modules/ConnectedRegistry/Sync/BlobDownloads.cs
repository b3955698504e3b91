using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The one place blobs are downloaded from the parent, registered once per host and shared by sync passes and
/// on-demand fetch: single-flight per digest, so a pass and a client's GET of one blob never write its partial file
/// side by side; whoever asks while a download runs joins it. A download is resumable (what arrived before a break
/// stays staged and the next attempt asks for the rest with <c>Range</c>), verified against the digest before it
/// becomes a blob (a mismatch is dropped and fetched again from 0), up to the starter's number of attempts. An answer
/// that declares another length than the descriptor's is refused before a byte is read; a parent that goes silent
/// mid-body (<see cref="ParentStalledException"/>) is asked again at once from what is staged, and that attempt is
/// not counted when it brought bytes. It runs
/// until every caller that joined it stopped waiting (a pass cancelled, a module stopping), then it is cancelled;
/// the bytes it staged stay for the next one. None starts while the data volume is below <c>storage.minFreeBytes</c>
/// (<see cref="StorageFullException"/>). Its bytes are announced as they are written and hashed
/// (<see cref="BlobFlight.Arrival"/>), so readers follow them without polling.
/// </summary>
public sealed partial class BlobDownloads : IDisposable
{
    private readonly ISyncDestination _local;
    private readonly SyncOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<Digest, BlobFlight> _running = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly Storage.FreeSpaceGuard? _space;

    public BlobDownloads(ISyncDestination local, SyncOptions options, TimeProvider time, ILogger<BlobDownloads> logger, Storage.FreeSpaceGuard? space = null)
        : this(local, options, time, (ILogger)logger, space)
    {
    }

    internal BlobDownloads(ISyncDestination local, SyncOptions options, TimeProvider time, ILogger logger, Storage.FreeSpaceGuard? space = null)
    {
        _space = space;
        _local = local;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Downloads running now (for tests and diagnostics).</summary>
    public int Running
    {
        get
        {
            lock (_gate)
            {
                return _running.Count;
            }
        }
    }

    /// <summary>
    /// Joins the download of <paramref name="blob"/>, starting it when none runs (from <paramref name="repository"/>
    /// of <paramref name="parent"/>, with <paramref name="attempts"/> attempts, after taking one of
    /// <paramref name="slots"/> when given). Every join must be followed by one <see cref="BlobFlight.WaitAsync"/>.
    /// <paramref name="meter"/>, when given, counts the download's bytes from now on. <paramref name="opened"/>, when
    /// given, is a GET of the blob the caller already has the answer of (on-demand fetch asks with a GET, not a HEAD,
    /// so that the bytes start moving at once): the download's first attempt reads it; it is disposed when a
    /// download already runs or the blob is stored.
    /// </summary>
    public BlobFlight Join(IParentRegistry parent, string repository, Descriptor blob, int attempts, SemaphoreSlim? slots, SyncPassMeter? meter, BlobDownload? opened = null)
    {
        if (_local.HasBlob(blob.Digest))
        {
            DisposeInBackground(opened);
            return BlobFlight.Stored(blob);
        }

        BlobFlight download;
        bool start;
        lock (_gate)
        {
            start = !_running.TryGetValue(blob.Digest, out var running) || running.Abandoned;
            download = start ? new BlobFlight(blob, this, CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token), repository) : running!;
            // Joined before the download starts: started first, a download could run to its end before the caller's
            // meter joined it, and the pass would count none of its bytes (seen under a loaded CPU in BlobFetcherTests).
            download.Joined(meter);
            if (start)
            {
                _running[blob.Digest] = download;
                download.Run(Task.Run(() => RunAsync(parent, repository, download, attempts, slots, opened)));
            }
            else
            {
                DisposeInBackground(opened);
            }
        }

        return download;
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    /// <summary>The size of the blob of <paramref name="digest"/> when a download of it runs now (not joined), else null.</summary>
    public long? RunningSize(Digest digest)
    {
        lock (_gate)
        {
            return _running.TryGetValue(digest, out var running) && !running.Abandoned ? running.Blob.Size : null;
        }
    }

    private static void DisposeInBackground(BlobDownload? opened)
    {
        if (opened is not null)
        {
            _ = opened.DisposeAsync().AsTask();
        }
    }

    /// <summary>The download ended, or the last caller stopped waiting for it: the next caller starts a new one.</summary>
    internal void Forget(BlobFlight download)
    {
        lock (_gate)
        {
            if (_running.TryGetValue(download.Blob.Digest, out var running) && ReferenceEquals(running, download))
            {
                _running.Remove(download.Blob.Digest);
            }
        }
    }

    private async Task RunAsync(IParentRegistry parent, string repository, BlobFlight download, int attempts, SemaphoreSlim? slots, BlobDownload? opened)
    {
        var cancellationToken = download.Cancellation;
        await using var firstAnswer = opened; // however the download ends (the attempt that reads it disposes it too)
        var slot = new Slot(slots);
        try
        {
            await slot.TakeAsync(cancellationToken);
            try
            {
                await DownloadAsync(parent, repository, download, Math.Max(1, attempts), opened, slot, cancellationToken);
            }
            finally
            {
                slot.Release();
            }
        }
        catch (Exception ex)
        {
            download.Arrival.Fail(ex);
            throw;
        }
        finally
        {
            Forget(download);
        }
    }

    private async Task DownloadAsync(IParentRegistry parent, string repository, BlobFlight download, int attempts, BlobDownload? opened, Slot slot, CancellationToken cancellationToken)
    {
        var blob = download.Blob;
        if (_local.HasBlob(blob.Digest))
        {
            download.Arrival.Advance(blob.Size);
            download.Arrival.SetVerified();
            return;
        }

        // Checked before every blob, not only at the start of a pass: a pass that fills the volume stops here, cleanly,
        // instead of running into ENOSPC (after an eviction of content fetched on demand had its bounded chance to free
        // room). Downloads already under way finish: the minimum is their margin.
        if (_space is not null && await _space.CheckAsync(cancellationToken) is { Full: true } full)
        {
            throw StorageFullException.Paused(full);
        }

        // The attempts, through Polly: BlobRetryPause between them on the app's clock, none after an open circuit. After
        // the link's failure (a reset mid-body) the next attempt starts at once: its request probes the link itself
        // (the parent client's pipeline), where a pause of a second here left a link that came back unused for it.
        var retry = attempts <= 1
            ? ResiliencePipeline<Exception?>.Empty
            : new ResiliencePipelineBuilder<Exception?> { TimeProvider = _time }
                .AddRetry(new RetryStrategyOptions<Exception?>
                {
                    MaxRetryAttempts = attempts - 1,
                    BackoffType = DelayBackoffType.Constant,
                    Delay = _options.BlobRetryPause,
                    DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(args.Outcome.Result is { } failed && ParentFailure.IsNetworkError(failed) ? TimeSpan.Zero : null),
                    ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is { } failed and not BrokenCircuitException),
                })
                .Build();
        var requests = new Requests(slot);
        var last = await retry.ExecuteAsync(
            (state, ct) => state.Downloads.AttemptGoingOnAfterStallsAsync(state.Parent, state.Repository, state.Download, state.Requests, state.Opened, ct),
            (Downloads: this, Parent: parent, Repository: repository, Download: download, Requests: requests, Opened: opened),
            cancellationToken);
        if (last is not null)
        {
            throw last;
        }

        download.Fetched();
        Log.BlobFetched(_logger, blob.Digest.ToString(), blob.Size);
    }

    /// <summary>The requests of one download so far: the first may be the caller's open answer and reports a resume.</summary>
    private sealed class Requests(Slot slot)
    {
        /// <summary>The download's blob slot, held while its bytes are asked for and staged.</summary>
        public Slot Slot { get; } = slot;

        public int Count { get; set; }

        /// <summary>Restarts after a stall that brought bytes, for the whole download (at most <see cref="MaxStallRestarts"/>).</summary>
        public int Restarts { get; set; }
    }

    /// <summary>
    /// One attempt, which goes on at once with a new request when the parent went silent after sending bytes: the stuck
    /// request is dropped and the download continues from what is staged, for every caller that joined it. Such a
    /// restart is no new attempt, so on-demand fetch (one attempt) outlives a stall of a parent that recovered; a parent
    /// dribbling a byte per stall stops somewhere (<see cref="MaxStallRestarts"/>). Null when the blob is stored.
    /// </summary>
    private async ValueTask<Exception?> AttemptGoingOnAfterStallsAsync(IParentRegistry parent, string repository, BlobFlight download, Requests requests, BlobDownload? opened, CancellationToken cancellationToken)
    {
        var blob = download.Blob;
        while (true)
        {
            var staged = _local.StagedLength(blob.Digest);
            requests.Count++;
            var failed = await AttemptAsync(parent, repository, download, requests.Count, requests.Count == 1 ? opened : null, requests.Slot, cancellationToken);
            if (failed is ParentStalledException && _local.StagedLength(blob.Digest) > staged && ++requests.Restarts <= MaxStallRestarts)
            {
                Log.BlobStalled(_logger, blob.Digest.ToString(), _local.StagedLength(blob.Digest), failed.Message);
                continue;
            }

            return failed;
        }
    }

    /// <summary>One attempt: null when the blob is stored, else why it is not (errors that end the pass are thrown).</summary>
    private async Task<Exception?> AttemptAsync(IParentRegistry parent, string repository, BlobFlight download, int attempt, BlobDownload? opened, Slot slot, CancellationToken cancellationToken)
    {
        var blob = download.Blob;
        var offset = ResumeOffset(download, attempt);
        var arrival = download.Arrival;
        try
        {
            if (offset < blob.Size || blob.Size == 0)
            {
                await slot.TakeAsync(cancellationToken); // given back before the commit of an earlier attempt
                // The caller's open answer serves when it starts at or before what is staged (a start before it truncates).
                await using var response = opened is { } first && first.Offset <= offset
                    ? first
                    : await parent.GetBlobAsync(repository, blob.Digest, offset, cancellationToken);
                if (response.TotalLength is { } declared && declared != blob.Size)
                {
                    // Checked before a byte is read (or a client is answered): a parent that declares another length
                    // than the descriptor's (10^12 bytes for a blob of 8 MiB) would have the download wait for bytes
                    // that never come, or take more than the blob.
                    Log.BlobLengthMismatch(_logger, blob.Digest.ToString(), declared, blob.Size);
                    return new ParentContentException($"the parent declared {declared} bytes for blob {blob.Digest}, its descriptor says {blob.Size}");
                }

                if (response.Offset < download.Counted)
                {
                    download.MoveTo(response.Offset); // Range not honoured: start over
                }

                var content = new ParentBlobStream(response.Content, blob.Size - response.Offset, download.Arrived);
                await _local.StageBlobAsync(blob.Digest, response.Offset, content, arrival.Advance, cancellationToken);
            }

            // The bytes are here: the slot goes to the next download while this one is verified, flushed to disk and
            // committed (the commits of every download queue for the one metadata writer, each with its fsyncs).
            slot.Release();
            await _local.CommitBlobAsync(repository, blob.Digest, arrival.SetVerified, cancellationToken);
            return null;
        }
        catch (Storage.DigestMismatchException ex)
        {
            download.Restart(ex); // the local side dropped the staged bytes
            Log.BlobCorrupt(_logger, blob.Digest.ToString(), attempt);
            return new ParentContentException($"blob {blob.Digest} from the parent did not match its digest");
        }
        catch (ParentContentException ex)
        {
            _local.DiscardStaged(blob.Digest);
            download.Restart(ex);
            Log.BlobCorrupt(_logger, blob.Digest.ToString(), attempt);
            return ex;
        }
        catch (Exception ex) when (ParentFailure.IsUnreachable(ex) && !cancellationToken.IsCancellationRequested)
        {
            // the bytes that arrived stay staged for the next attempt
            Log.BlobInterrupted(_logger, blob.Digest.ToString(), _local.StagedLength(blob.Digest), ex.Message);
            return ex;
        }
    }

    /// <summary>Where the next attempt starts: the staged length, or 0 when what is staged cannot be this blob's.</summary>
    private long ResumeOffset(BlobFlight download, int attempt)
    {
        var blob = download.Blob;
        var offset = _local.StagedLength(blob.Digest);
        if (offset > blob.Size)
        {
            _local.DiscardStaged(blob.Digest);
            offset = 0;
        }

        if (attempt == 1 && offset > 0)
        {
            download.MoveTo(offset);
            Log.BlobResumed(_logger, blob.Digest.ToString(), offset, blob.Size);
        }

        download.Arrival.Advance(offset); // staged bytes are there to read at once
        return offset;
    }

    /// <summary>Restarts after a stall that brought bytes, beyond the attempts: a parent dribbling a byte per stall stops somewhere.</summary>
    private const int MaxStallRestarts = 20;

    /// <summary>
    /// A download's hold on one of its caller's blob slots (none without slots): taken before the download starts, given
    /// back once its bytes are staged, taken again by an attempt that has to ask the parent once more. Used by one
    /// download's attempts, one after the other.
    /// </summary>
    private sealed class Slot(SemaphoreSlim? slots)
    {
        private bool _held;

        public async Task TakeAsync(CancellationToken cancellationToken)
        {
            if (slots is null || _held)
            {
                return;
            }

            await slots.WaitAsync(cancellationToken);
            _held = true;
        }

        public void Release()
        {
            if (_held)
            {
                _held = false;
                slots!.Release();
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4051, Level = LogLevel.Warning, Message = "Blob {Digest}: the parent stalled at {Stored} bytes ({Reason}); the download goes on with a new request")]
        public static partial void BlobStalled(ILogger logger, string digest, long stored, string reason);

        [LoggerMessage(EventId = 4052, Level = LogLevel.Warning, Message = "Blob {Digest}: the parent declared {Declared} bytes, its descriptor says {Size}; the parent's answer is refused")]
        public static partial void BlobLengthMismatch(ILogger logger, string digest, long declared, long size);

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

/// <summary>
/// One download (a flight) of <see cref="BlobDownloads"/>: its bytes as they arrive (<see cref="Arrival"/>), the meters
/// of the passes waiting for it, and how many callers wait (when the last one stops waiting, it is cancelled).
/// </summary>
public sealed class BlobFlight
{
    private readonly BlobDownloads? _owner;
    private readonly CancellationTokenSource? _cancellation;
    private readonly string _repository;
    private SyncPassMeter[] _meters = [];
    private Task _task = Task.CompletedTask;
    private int _waiters;

    internal BlobFlight(Descriptor blob, BlobDownloads? owner, CancellationTokenSource? cancellation, string? repository = null)
    {
        Blob = blob;
        _repository = repository ?? string.Empty;
        _owner = owner;
        _cancellation = cancellation;
    }

    public Descriptor Blob { get; }

    /// <summary>The bytes of the current attempt from byte 0 (replaced when the download starts over).</summary>
    public BlobArrival Arrival { get; private set; } = new();

    /// <summary>Completes when the blob is stored (faults when it could not be).</summary>
    public Task Task => _task;

    /// <summary>Bytes of the blob the meters have counted.</summary>
    internal long Counted { get; private set; }

    internal CancellationToken Cancellation => _cancellation?.Token ?? CancellationToken.None;

    /// <summary>Every caller stopped waiting and it was cancelled: a new caller starts a new one.</summary>
    internal bool Abandoned => _cancellation?.IsCancellationRequested == true;

    /// <summary>A blob stored already: nothing to download.</summary>
    internal static BlobFlight Stored(Descriptor blob) => new(blob, null, null) { Arrival = BlobArrival.Complete(blob.Size) };

    /// <summary>Waits until the blob is stored; when every caller stopped waiting (cancelled), the download is cancelled.</summary>
    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _task.WaitAsync(cancellationToken);
        }
        finally
        {
            if (Interlocked.Decrement(ref _waiters) == 0 && !_task.IsCompleted && _cancellation is not null)
            {
                _owner!.Forget(this);
                _cancellation.Cancel();
            }
        }
    }

    internal void Run(Task task) => _task = task;

    /// <summary>A caller joined (under the owner's lock); its meter counts the blob and what arrived of it so far.</summary>
    internal void Joined(SyncPassMeter? meter)
    {
        Interlocked.Increment(ref _waiters);
        if (meter is not null && Array.IndexOf(_meters, meter) < 0)
        {
            meter.BlobPlanned(Blob.Size);
            meter.BytesCounted(Counted);
            _meters = [.. _meters, meter];
        }
    }

    internal void MoveTo(long offset)
    {
        var delta = offset - Counted;
        Counted = offset;
        foreach (var meter in _meters)
        {
            meter.BytesCounted(delta);
        }
    }

    /// <summary>The bytes staged so far are dropped: readers of them are failed, new readers follow the next attempt.</summary>
    internal void Restart(Exception reason)
    {
        MoveTo(0);
        var old = Arrival;
        Arrival = new BlobArrival();
        old.Fail(reason);
    }

    internal void Arrived(int bytes)
    {
        Counted += bytes;
        foreach (var meter in _meters)
        {
            meter.BytesDownloadedNow(bytes);
        }
    }

    internal void Fetched()
    {
        foreach (var meter in _meters)
        {
            meter.BlobFetched(_repository, Blob);
        }
    }
}
