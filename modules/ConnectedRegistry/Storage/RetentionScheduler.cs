using ConnectedRegistry.Core;

namespace ConnectedRegistry.Storage;

/// <summary>When the scheduler runs retention passes besides the garbage collection schedule.</summary>
public sealed record RetentionSchedulerOptions
{
    /// <summary>After a sync pass a retention pass runs, but not sooner than this after the last one (continuous sync ends a pass every half minute or so).</summary>
    public TimeSpan AfterSyncInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// After a pass that stopped at <c>maxRemovalsPerPass</c> with removals left, the next pass runs this long after it:
    /// the lock is free meanwhile, so pushes, pulls, sync, on-demand fetch and collection go between passes.
    /// </summary>
    public TimeSpan BacklogDelay { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Runs <see cref="RetentionPass"/> while <c>storage.retention</c> has rules: on the garbage collection schedule
/// (<c>garbageCollection.schedule</c>, cron UTC, also while scheduled collection is off: the pass runs its own collection
/// after removing), and after each successful sync pass (what sync brought in is what pushes older tags out), at most
/// once per <see cref="RetentionSchedulerOptions.AfterSyncInterval"/>. A pass (scheduled, or the <c>retention</c> method's)
/// that removed its <c>maxRemovalsPerPass</c> and left removals pending is followed by the next one
/// <see cref="RetentionSchedulerOptions.BacklogDelay"/> after it, until the backlog is drained (a pass that removed nothing,
/// or failed, is not followed up: the schedule tries again). Time comes from the injected <see cref="TimeProvider"/>, so
/// tests drive it.
/// </summary>
public sealed partial class RetentionScheduler : BackgroundService
{
    private readonly RetentionPass _pass;
    private readonly IRegistrySettingsSource _settings;
    private readonly ModuleState _state;
    private readonly TimeProvider _time;
    private readonly RetentionSchedulerOptions _options;
    private readonly ILogger<RetentionScheduler> _logger;
    private readonly object _gate = new();
    private CancellationTokenSource _wake = new();
    private DateTimeOffset? _lastSyncSeen;
    private bool _syncPassPending;
    private DateTimeOffset? _lastPass;
    private RetentionStatus? _lastRetentionSeen;
    private bool _backlogBlocked;

    public RetentionScheduler(RetentionPass pass, IRegistrySettingsSource settings, ModuleState state, TimeProvider time, ILogger<RetentionScheduler> logger, RetentionSchedulerOptions? options = null)
    {
        _pass = pass;
        _settings = settings;
        _state = state;
        _time = time;
        _logger = logger;
        _options = options ?? new RetentionSchedulerOptions();
        _lastSyncSeen = state.Sync.LastSyncTime;
        _lastRetentionSeen = state.Retention;
        _settings.Changed += OnSettingsChanged;
        _state.Changed += OnStateChanged;
    }

    /// <summary>The next planned pass, or null when there are no rules.</summary>
    public DateTimeOffset? NextRun { get; private set; }

    public override void Dispose()
    {
        _settings.Changed -= OnSettingsChanged;
        _state.Changed -= OnStateChanged;
        _wake.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            CancellationTokenSource wake;
            lock (_gate)
            {
                wake = _wake;
            }

            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, wake.Token);
            var now = _time.GetUtcNow();
            NextRun = Next(now);
            try
            {
                if (NextRun is not { } next)
                {
                    await Task.Delay(Timeout.InfiniteTimeSpan, _time, linked.Token);
                    continue;
                }

                var wait = next - _time.GetUtcNow();
                if (wait > TimeSpan.FromDays(1))
                {
                    await Task.Delay(TimeSpan.FromDays(1), _time, linked.Token); // Task.Delay has an upper bound
                    continue;
                }

                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _time, linked.Token);
                }
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                continue; // woken: plan again
            }
            catch (OperationCanceledException)
            {
                return;
            }

            lock (_gate)
            {
                _syncPassPending = false;
                _lastPass = _time.GetUtcNow();
            }

            try
            {
                await _pass.RunAsync(dryRun: false, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Log.Failed(_logger, ex); // the next occasion tries again
                lock (_gate)
                {
                    _backlogBlocked = true; // not again and again at the backlog's pace: a pass that reports clears it
                }
            }
        }
    }

    /// <summary>The next pass: the garbage collection schedule's next occurrence, or sooner after a sync pass.</summary>
    private DateTimeOffset? Next(DateTimeOffset now)
    {
        var settings = _settings.Current;
        if (settings.Storage.Retention.Rules.Count == 0)
        {
            return null;
        }

        var scheduled = GarbageCollectionScheduler.NextOccurrence(settings.GarbageCollection.Schedule, now);
        lock (_gate)
        {
            if (_syncPassPending)
            {
                var afterSync = _lastPass is { } last && last + _options.AfterSyncInterval > now ? last + _options.AfterSyncInterval : now;
                scheduled = Earlier(scheduled, afterSync);
            }

            if (!_backlogBlocked && _lastRetentionSeen is { Pending: > 0 } backlog && backlog.TagsRemoved + backlog.ManifestsRemoved > 0)
            {
                scheduled = Earlier(scheduled, backlog.LastPassTime + _options.BacklogDelay);
            }
        }

        return scheduled;
    }

    private static DateTimeOffset Earlier(DateTimeOffset? a, DateTimeOffset b) => a is { } x && x < b ? x : b;

    private void OnSettingsChanged(RegistrySettings settings) => Wake();

    private void OnStateChanged()
    {
        var last = _state.Sync.LastSyncTime;
        var retention = _state.Retention;
        lock (_gate)
        {
            var synced = last is not null && last != _lastSyncSeen;
            var passed = retention != _lastRetentionSeen;
            if (!synced && !passed)
            {
                return;
            }

            if (synced)
            {
                _lastSyncSeen = last;
                _syncPassPending = true;
            }

            if (passed)
            {
                _lastRetentionSeen = retention;
                _backlogBlocked = false; // a pass reported (the scheduler's or the method's): follow its backlog if it left one
            }
        }

        Wake();
    }

    private void Wake()
    {
        CancellationTokenSource old;
        lock (_gate)
        {
            old = _wake;
            _wake = new CancellationTokenSource();
        }

        old.Cancel(); // not disposed: the loop may be linking its token right now
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2111, Level = LogLevel.Error, Message = "Scheduled retention pass failed")]
        public static partial void Failed(ILogger logger, Exception exception);
    }
}
