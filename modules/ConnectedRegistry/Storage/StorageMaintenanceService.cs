using ConnectedRegistry.Core;

namespace ConnectedRegistry.Storage;

/// <summary>
/// Storage housekeeping in the background: clears crash leftovers at start-up, purges expired upload
/// sessions and stale partial blobs, and keeps the storage section of <see cref="ModuleState"/> current
/// (counters maintained on blob create/delete, published <see cref="StorageOptions.StatusSettle"/> after a blob is
/// stored — one publish for a burst — and refreshed on an interval, never per request).
/// </summary>
public sealed partial class StorageMaintenanceService : BackgroundService
{
    private readonly RegistryStore _store;
    private readonly BlobStore _blobs;
    private readonly RepositoryBlobs _links;
    private readonly PartialBlobStore _partials;
    private readonly UploadSessionStore _uploads;
    private readonly GarbageCollector _collector;
    private readonly ModuleState _state;
    private readonly StorageOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<StorageMaintenanceService> _logger;
    /// <summary>The status detail raised while the data volume has less than 5% or 256 MiB free.</summary>
    [StatusDetailCode]
    public const string DiskSpaceLowCode = "DiskSpaceLow";

    private const long LowSpaceBytes = 256L * 1024 * 1024;

    private readonly FreeSpaceGuard? _guard;
    private readonly IEventPublisher? _events;
    private bool _low;
    private long _blobCount;
    private long _blobBytes;
    private ITimer? _settle;
    private int _settleArmed;
    private int _waits;

    /// <summary>How many times the housekeeping loop has started waiting for its next tick (tests move a fake clock only once it waits, and assert a tick's outcome once it waits again).</summary>
    internal int Waits => Volatile.Read(ref _waits);

    public StorageMaintenanceService(RegistryStore store, BlobStore blobs, RepositoryBlobs links, PartialBlobStore partials, UploadSessionStore uploads, GarbageCollector collector, ModuleState state, StorageOptions options, TimeProvider time, ILogger<StorageMaintenanceService> logger,
        FreeSpaceGuard? guard = null, IEventPublisher? events = null)
    {
        _guard = guard;
        _events = events;
        _store = store;
        _blobs = blobs;
        _links = links;
        _partials = partials;
        _uploads = uploads;
        _collector = collector;
        _state = state;
        _options = options;
        _time = time;
        _logger = logger;
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Before the first request: nothing in staging belongs to anybody after a restart.
        var purged = _blobs.PurgeStaging(TimeSpan.Zero, DateTime.UtcNow);
        if (purged > 0)
        {
            Log.StagingPurged(_logger, purged);
        }

        _links.BlobCreated += OnBlobCreated;
        _collector.Collected += OnCollected;
        _collector.BlobsDeleted += OnBlobsDeleted;
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _links.BlobCreated -= OnBlobCreated;
        _collector.Collected -= OnCollected;
        _collector.BlobsDeleted -= OnBlobsDeleted;
        await base.StopAsync(cancellationToken);
    }

    public override void Dispose()
    {
        Interlocked.Exchange(ref _settle, null)?.Dispose();
        base.Dispose();
    }

    /// <summary>Recounts blobs on disk and publishes the storage section now.</summary>
    public void Refresh()
    {
        long count = 0;
        long bytes = 0;
        foreach (var blob in _blobs.Enumerate())
        {
            count++;
            bytes += blob.Size;
        }

        Interlocked.Exchange(ref _blobCount, count);
        Interlocked.Exchange(ref _blobBytes, bytes);
        Publish();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        try
        {
            try
            {
                Refresh();
            }
            catch (Exception ex) when (IsStorageError(ex))
            {
                Log.PublishFailed(_logger, ex); // counted from the events until the next refresh
            }

            await PurgeAsync(_options.UploadMaxAge, stoppingToken);
            using var timer = new PeriodicTimer(_options.StatusInterval, _time);
            var lastPurge = _time.GetUtcNow();
            Interlocked.Increment(ref _waits);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Publish();
                if (_time.GetUtcNow() - lastPurge >= TimeSpan.FromMinutes(15))
                {
                    lastPurge = _time.GetUtcNow();
                    await PurgeAsync(_options.UploadMaxAge, stoppingToken);
                }
                else if (NearCap())
                {
                    // Near a session cap, idle sessions go after minutes instead of a day, so abandoned ones
                    // cannot keep the cap full for long.
                    await PurgeAsync(_options.UploadIdleAgeNearCap < _options.UploadMaxAge ? _options.UploadIdleAgeNearCap : _options.UploadMaxAge, stoppingToken);
                }

                Interlocked.Increment(ref _waits);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private bool NearCap()
    {
        try
        {
            return _uploads.NearCap();
        }
        catch (Exception ex) when (IsStorageError(ex))
        {
            Log.PurgeFailed(_logger, ex);
            return false;
        }
    }

    private async Task PurgeAsync(TimeSpan sessionMaxAge, CancellationToken cancellationToken)
    {
        try
        {
            var sessions = await _uploads.PurgeAsync(sessionMaxAge, cancellationToken);

            // A staging file lives for the length of one request; one an hour old was abandoned.
            _blobs.PurgeStaging(TimeSpan.FromHours(1), DateTime.UtcNow);
            var partials = _partials.PurgeStale(_time.GetUtcNow().UtcDateTime - _options.UploadMaxAge);

            if (sessions + partials > 0)
            {
                Log.UploadsPurged(_logger, sessions, partials);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException)
        {
            Log.PurgeFailed(_logger, ex);
        }
    }

    private void Publish()
    {
        long free = 0;
        long total = 0;
        try
        {
            var drive = new DriveInfo(_store.Layout.Root);
            free = drive.AvailableFreeSpace;
            total = drive.TotalSize;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
        }

        var low = total > 0 && (free < LowSpaceBytes || free < total / 20);
        if (low)
        {
            _state.SetStatusDetail(new StatusDetail(DiskSpaceLowCode, "Warning", $"only {free / (1024 * 1024)} MiB free on the data volume", _time.GetUtcNow()));
            if (!_low)
            {
                _events?.Publish(new RegistryEvent(EventTypes.StorageLow, _time.GetUtcNow())
                {
                    Message = $"only {free / (1024 * 1024)} MiB free on the data volume",
                    Data = new Dictionary<string, object?> { ["freeBytes"] = free, ["totalBytes"] = total },
                });
            }
        }
        else
        {
            _state.ClearStatusDetail(DiskSpaceLowCode);
        }

        _low = low;
        _guard?.Check(); // a full volume is noticed (and its end) even while nobody pushes

        long repositories;
        try
        {
            repositories = _store.CountRepositories();
        }
        catch (Exception ex) when (IsStorageError(ex))
        {
            // A housekeeping loop that threw would stop the host: keep the last status, try again at the next tick.
            Log.PublishFailed(_logger, ex);
            return;
        }

        _state.SetStorage(new StorageStatus(
            Interlocked.Read(ref _blobBytes),
            free,
            Interlocked.Read(ref _blobCount),
            repositories));
    }

    private static bool IsStorageError(Exception ex) =>
        ex is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException;

    private void OnBlobCreated(BlobInfo blob)
    {
        Interlocked.Increment(ref _blobCount);
        Interlocked.Add(ref _blobBytes, blob.Size);
        if (Interlocked.Exchange(ref _settleArmed, 1) == 0)
        {
            // The first blob of a burst arms one publish; those after it until then ride along.
            var timer = _settle ??= _time.CreateTimer(_ => Settled(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            timer.Change(_options.StatusSettle, Timeout.InfiniteTimeSpan);
        }
    }

    private void Settled()
    {
        Interlocked.Exchange(ref _settleArmed, 0);
        try
        {
            Publish();
        }
        catch (Exception ex)
        {
            // A timer callback that threw would end the process: the interval's publish tries again.
            Log.PublishFailed(_logger, ex);
        }
    }

    private void OnCollected(GarbageCollectionResult result) => OnBlobsDeleted(result.BlobsDeleted, result.BytesFreed);

    private void OnBlobsDeleted(int blobs, long bytes)
    {
        Interlocked.Add(ref _blobCount, -blobs);
        Interlocked.Add(ref _blobBytes, -bytes);
        Publish();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Removed {Count} staging files left by an interrupted run")]
        public static partial void StagingPurged(ILogger logger, int count);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Purged {Sessions} expired upload sessions and {Partials} stale partial blobs")]
        public static partial void UploadsPurged(ILogger logger, int sessions, int partials);

        [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Storage status not refreshed")]
        public static partial void PublishFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Purging expired uploads failed")]
        public static partial void PurgeFailed(ILogger logger, Exception exception);
    }
}
