using System.Net;
using ConnectedRegistry.Oci;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Sync up's blob upload that survives a thin link: chunks of <see cref="SyncOptions.UploadChunkBytes"/> (or the
/// parent's <c>OCI-Chunk-Min-Length</c> when larger), each a <c>PATCH</c> with <c>Content-Range</c>, the session and
/// the bytes the parent confirmed kept in <c>sync.db</c> (<see cref="ParentUploadSessions"/>) after every chunk. After a
/// break (a drop, the end of a pass or window, a restart of the module) the next attempt asks the parent's session
/// where it stands (<c>GET</c> → <c>Range: 0-N</c>) and sends from there, so a drop costs what was in flight, not the
/// blob. A chunk refused with 416 (the session holds other bytes than it said: a broken request's last bytes arrived
/// after the status was asked) is sent again from where the session then stands. A parent that forgot the session
/// (404, <c>BLOB_UPLOAD_UNKNOWN</c>; CNCF distribution answers <c>BLOB_UPLOAD_INVALID</c> and cancels the session once
/// a chunk broke midway) gets a new session from byte 0; a parent that refuses chunks gets the whole blob in one
/// <c>PATCH</c>.
/// Within a pass a broken upload is tried again <see cref="SyncOptions.BlobRetryPause"/> later, for as long as each
/// attempt moves the session on, and <see cref="SyncOptions.BlobAttempts"/> times in a row when none does; after that
/// the pass ends and the next one continues it.
/// </summary>
public sealed partial class ResumableBlobUpload
{
    private const int MaxResyncs = 3;
    private readonly ParentUploadSessions _sessions;
    private readonly SyncOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public ResumableBlobUpload(ParentUploadSessions sessions, SyncOptions options, TimeProvider time, ILogger<ResumableBlobUpload> logger)
    {
        _sessions = sessions;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Drops the kept sessions not used for <see cref="ParentUploadSessions.MaxIdle"/> (the parent purged them long ago).</summary>
    public void ForgetIdle() => _sessions.ForgetIdle();

    /// <summary>Uploads <paramref name="size"/> bytes of <paramref name="digest"/>, read from a seekable stream that <paramref name="open"/> opens.</summary>
    public async Task UploadAsync(IParentRegistry parent, string repository, Digest digest, Func<Stream> open, long size, CancellationToken cancellationToken)
    {
        var reached = new Reached();

        // Through Polly, BlobRetryPause between attempts on the app's clock. Its attempts are not a fixed number: one that
        // moved the session on starts the count again, so on a link that keeps dropping the upload goes on for as long as
        // each connection carries some of it (the count is kept in Reached, which the attempts move on).
        var retry = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Constant,
                Delay = _options.BlobRetryPause,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && ParentFailure.IsUnreachable(ex) && ex is not BrokenCircuitException
                    && !args.Context.CancellationToken.IsCancellationRequested && reached.TryAgain(_options.BlobAttempts)),
                OnRetry = args =>
                {
                    Log.Interrupted(_logger, digest.ToString(), repository, reached.Offset, args.Outcome.Exception!.Message);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
        await retry.ExecuteAsync(
            async ct =>
            {
                reached.Attempting();
                await AttemptAsync(parent, repository, digest, open, size, reached, ct);
            },
            cancellationToken);
    }

    private async Task AttemptAsync(IParentRegistry parent, string repository, Digest digest, Func<Stream> open, long size, Reached reached, CancellationToken cancellationToken)
    {
        var endpoint = parent.Endpoint;
        var resumed = await ResumeAsync(parent, repository, digest, size, cancellationToken);
        var chunks = new Chunking(endpoint, resumed ?? await StartAsync(parent, repository, digest, cancellationToken), fresh: resumed is null);
        reached.Offset = Math.Max(reached.Offset, chunks.Upload.Offset);
        await using var content = open();
        while (chunks.Upload.Offset < size)
        {
            switch (await SendChunkAsync(parent, repository, digest, content, size, chunks, cancellationToken))
            {
                case ChunkSent.Whole:
                    return;
                case ChunkSent.Restarted:
                    continue;
            }

            if (chunks.Upload.Offset > size)
            {
                _sessions.Forget(endpoint, repository, digest);
                throw new ParentContentException($"the parent's upload session holds {chunks.Upload.Offset} bytes of a {size}-byte blob");
            }

            _sessions.Save(endpoint, repository, digest, chunks.Upload);
            reached.Offset = Math.Max(reached.Offset, chunks.Upload.Offset);
        }

        try
        {
            await parent.CompleteUploadAsync(chunks.Upload, digest, cancellationToken);
        }
        catch (ParentRegistryException)
        {
            _sessions.Forget(endpoint, repository, digest); // refused (a digest mismatch, a session gone): the next attempt starts anew
            throw;
        }

        _sessions.Forget(endpoint, repository, digest);
    }

    /// <summary>One attempt's session and what it has been through: a restart (once), resyncs after a 416, the parent's go-ahead.</summary>
    private sealed class Chunking(Uri endpoint, ParentUpload upload, bool fresh)
    {
        /// <summary>The parent the attempt started with (its sessions are kept under it).</summary>
        public Uri Endpoint { get; } = endpoint;

        /// <summary>A session this attempt started (none was kept): a parent that refuses its first chunk gets the blob whole.</summary>
        public bool Fresh { get; } = fresh;

        public ParentUpload Upload { get; set; } = upload;

        public bool Restarted { get; set; }

        public int Resyncs { get; set; }

        public bool Confirmed { get; set; }
    }

    private enum ChunkSent
    {
        /// <summary>The chunk went (or the session was resynced): the session's offset is where it now stands.</summary>
        Chunk,

        /// <summary>The session was lost and a new one started from byte 0.</summary>
        Restarted,

        /// <summary>The parent takes no chunks: the whole blob went in one request.</summary>
        Whole,
    }

    /// <summary>Sends the next chunk from where the session stands, handling the parent's refusals of it.</summary>
    private async Task<ChunkSent> SendChunkAsync(IParentRegistry parent, string repository, Digest digest, Stream content, long size, Chunking chunks, CancellationToken cancellationToken)
    {
        content.Seek(chunks.Upload.Offset, SeekOrigin.Begin);
        var length = ChunkLength(chunks.Upload, size);
        try
        {
            // The first chunk into a session that already holds bytes waits for the parent's go-ahead: a broken request's
            // last bytes may still be arriving there, and a chunk it then refuses (416) should not cross the link.
            chunks.Upload = await parent.UploadChunkAsync(chunks.Upload, new StreamSlice(content, length), length, cancellationToken, confirmFirst: chunks.Upload.Offset > 0 && !chunks.Confirmed);
            chunks.Confirmed = true;
            return ChunkSent.Chunk;
        }
        catch (ParentRegistryException ex) when (ex.Status == HttpStatusCode.RequestedRangeNotSatisfiable && chunks.Resyncs++ < MaxResyncs)
        {
            // resynced below, outside the handler
        }
        catch (ParentRegistryException ex) when (!chunks.Restarted && (ex.Status == HttpStatusCode.RequestedRangeNotSatisfiable || ParentRegistryClient.IsSessionGone(ex)))
        {
            // The session is gone, or cannot say where it stands: once per attempt, a new one from byte 0.
            Log.SessionLost(_logger, digest.ToString(), repository, chunks.Upload.Offset, (int)ex.Status);
            chunks.Restarted = true;
            chunks.Upload = await RestartAsync(parent, repository, digest, cancellationToken);
            return ChunkSent.Restarted;
        }
        catch (ParentRegistryException ex) when (chunks.Fresh && chunks.Upload.Offset == 0 && ex.Status is HttpStatusCode.BadRequest or HttpStatusCode.MethodNotAllowed
            or HttpStatusCode.UnsupportedMediaType or HttpStatusCode.NotImplemented)
        {
            // No chunked uploads at this parent: the whole blob in one request, from byte 0 whenever it breaks.
            _sessions.Forget(chunks.Endpoint, repository, digest);
            content.Seek(0, SeekOrigin.Begin);
            await parent.UploadBlobAsync(repository, digest, content, size, cancellationToken);
            return ChunkSent.Whole;
        }

        // The session holds other bytes than it last said (a broken request's bytes arriving after it): go on from
        // where it stands now, or with a new session when it is gone.
        var status = await parent.UploadStatusAsync(chunks.Upload, cancellationToken);
        Log.Resynced(_logger, digest.ToString(), repository, chunks.Upload.Offset, status?.Offset ?? -1);
        chunks.Upload = status ?? await RestartAsync(parent, repository, digest, cancellationToken);
        chunks.Confirmed = false;
        return ChunkSent.Chunk;
    }

    /// <summary>The kept session of this blob at this parent, asked where it stands; null when there is none (any more).</summary>
    private async Task<ParentUpload?> ResumeAsync(IParentRegistry parent, string repository, Digest digest, long size, CancellationToken cancellationToken)
    {
        if (_sessions.Find(parent.Endpoint, repository, digest) is not { } kept)
        {
            return null;
        }

        var status = await parent.UploadStatusAsync(kept, cancellationToken);
        if (status is null || status.Offset > size)
        {
            Log.SessionGone(_logger, digest.ToString(), repository);
            _sessions.Forget(parent.Endpoint, repository, digest);
            return null;
        }

        Log.Resumed(_logger, digest.ToString(), repository, status.Offset, size);
        return status;
    }

    private async Task<ParentUpload> RestartAsync(IParentRegistry parent, string repository, Digest digest, CancellationToken cancellationToken)
    {
        _sessions.Forget(parent.Endpoint, repository, digest);
        return await StartAsync(parent, repository, digest, cancellationToken);
    }

    private async Task<ParentUpload> StartAsync(IParentRegistry parent, string repository, Digest digest, CancellationToken cancellationToken)
    {
        var upload = await parent.StartUploadAsync(repository, cancellationToken);
        _sessions.Save(parent.Endpoint, repository, digest, upload);
        return upload;
    }

    /// <summary>The next chunk: the configured size, at least the parent's minimum, at most what is left (a last chunk may be shorter).</summary>
    private long ChunkLength(ParentUpload upload, long size) =>
        Math.Min(size - upload.Offset, Math.Max(Math.Max(1, _options.UploadChunkBytes), upload.ChunkMinLength));

    /// <summary>The most bytes the parent's session has held during one upload (its progress across attempts).</summary>
    /// <summary>How far the parent's session got, and how many attempts in a row moved it nowhere.</summary>
    private sealed class Reached
    {
        private long _before;
        private int _failures;

        public long Offset { get; set; }

        /// <summary>An attempt starts.</summary>
        public void Attempting() => _before = Offset;

        /// <summary>
        /// After a broken attempt: true when another is worth it, because this one moved the session on (the count
        /// starts again) or fewer than <paramref name="attempts"/> in a row moved nothing.
        /// </summary>
        public bool TryAgain(int attempts)
        {
            _failures = Offset > _before ? 0 : _failures + 1;
            return _failures < attempts;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4077, Level = LogLevel.Information, Message = "Continuing the upload of blob {Digest} to {Repository} at the parent from byte {Offset} of {Size}")]
        public static partial void Resumed(ILogger logger, string digest, string repository, long offset, long size);

        [LoggerMessage(EventId = 4078, Level = LogLevel.Information, Message = "The parent no longer has the upload session of blob {Digest} in {Repository}; starting a new one from byte 0")]
        public static partial void SessionGone(ILogger logger, string digest, string repository);

        [LoggerMessage(EventId = 4079, Level = LogLevel.Warning, Message = "The parent refused a chunk of blob {Digest} in {Repository} at byte {Offset} ({Status}); starting a new session from byte 0")]
        public static partial void SessionLost(ILogger logger, string digest, string repository, long offset, int status);

        [LoggerMessage(EventId = 4075, Level = LogLevel.Debug, Message = "The parent's upload session of blob {Digest} in {Repository} holds {Actual} bytes, not {Expected}; continuing from there")]
        public static partial void Resynced(ILogger logger, string digest, string repository, long expected, long actual);

        [LoggerMessage(EventId = 4076, Level = LogLevel.Debug, Message = "Upload of blob {Digest} to {Repository} interrupted with {Offset} bytes at the parent: {Reason}")]
        public static partial void Interrupted(ILogger logger, string digest, string repository, long offset, string reason);
    }
}
