using System.Collections.Concurrent;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Storage;

/// <summary>
/// Records when each manifest was last pulled, for retention by pull time, without a database write per request: a
/// pull is noted in memory (the latest time per repository and manifest digest, from the app's
/// <see cref="TimeProvider"/>) and every <see cref="StorageOptions.PullFlushInterval"/> the notes are written to
/// <c>manifest_pulls</c> in one transaction, as they are at a graceful stop. So a crash (or a kill) loses at most the
/// pulls of the last interval: those manifests keep the earlier pull time they had.
/// </summary>
public sealed partial class PullRecorder : BackgroundService
{
    private readonly ConcurrentDictionary<(string Repository, Digest Digest), long> _pending = new();
    private readonly SemaphoreSlim _flushLock = new(1, 1);
    private readonly MetadataDatabase _db;
    private readonly StorageOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<PullRecorder> _logger;
    private long _writes;
    private long _intervals;

    public PullRecorder(MetadataDatabase db, StorageOptions options, TimeProvider time, ILogger<PullRecorder> logger)
    {
        _db = db;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Write transactions committed so far: one per flush that had anything to write, never one per pull.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>Intervals the loop has finished, its flush done (or found nothing to write): what tests wait for instead of a sleep.</summary>
    public long Intervals => Interlocked.Read(ref _intervals);

    /// <summary>Notes a pull of the manifest now. Only memory: cheap enough for every manifest GET.</summary>
    public void Record(string repository, Digest digest)
    {
        if (!_options.RecordPulls)
        {
            return;
        }

        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _pending.AddOrUpdate((repository, digest), static (_, at) => at, static (_, noted, at) => Math.Max(noted, at), now);
    }

    /// <summary>The pull of the manifest noted since the last flush (null: none), for a caller that must not miss one just made.</summary>
    public DateTimeOffset? Noted(string repository, Digest digest) =>
        _pending.TryGetValue((repository, digest), out var at) ? DateTimeOffset.FromUnixTimeMilliseconds(at) : null;

    /// <summary>
    /// Writes the pulls noted so far in one transaction; the number written. A pull noted while the write runs stays for
    /// the next flush, and a failed write keeps every note for the next one.
    /// </summary>
    public async Task<int> FlushAsync(CancellationToken cancellationToken = default)
    {
        await _flushLock.WaitAsync(cancellationToken);
        try
        {
            if (_pending.IsEmpty)
            {
                return 0;
            }

            var batch = _pending.ToArray();
            await _db.WriteAsync((c, t) => MetadataSql.RecordPulls(c, t, batch.Select(p => (p.Key.Repository, p.Key.Digest.ToString(), p.Value))), cancellationToken);
            Interlocked.Increment(ref _writes);
            foreach (var written in batch)
            {
                // Only if it was not pulled again meanwhile (the pair must match): a later pull waits for the next flush.
                _pending.TryRemove(written);
            }

            return batch.Length;
        }
        finally
        {
            _flushLock.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.RecordPulls)
        {
            return;
        }

        // Created before the first await, so the interval counts from start-up (tests advance a fake clock from there).
        using var timer = new PeriodicTimer(_options.PullFlushInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await TryFlushAsync(stoppingToken);
                Interlocked.Increment(ref _intervals);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>After the loop has ended (the web server has stopped serving by then): what the last interval noted.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await TryFlushAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _flushLock.Dispose();
        base.Dispose();
    }

    private async Task TryFlushAsync(CancellationToken cancellationToken)
    {
        try
        {
            await FlushAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException)
        {
            // A loop that threw would stop the host; the notes stay and the next interval tries again.
            Log.FlushFailed(_logger, _pending.Count, ex);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "Writing the last pull times of {Count} manifests failed; tried again at the next interval")]
        public static partial void FlushFailed(ILogger logger, int count, Exception exception);
    }
}
