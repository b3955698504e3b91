using ConnectedRegistry.Core;

namespace ConnectedRegistry.Storage;

/// <summary>When the scheduler runs retention passes besides the garbage collection schedule.</summary>
public sealed record RetentionSchedulerOptions
{
    /// <summary>After a sync pass a retention pass runs, but not sooner than this after the last one (continuous sync ends a pass every half minute or so).</summary>
    public TimeSpan AfterSyncInterval { get; init; } = TimeSpan.FromMinutes(10);
}

/// <summary>
/// Runs <see cref="RetentionPass"/> while <c>storage.retention</c> has rules: on the garbage collection schedule
/// (<c>garbageCollection.schedule</c>, cron UTC, also while scheduled collection is off: the pass runs its own collection
/// after removing), and after each successful sync pass (what sync brought in is what pushes older tags out), at most
/// once per <see cref="RetentionSchedulerOptions.AfterSyncInterval"/>. Time comes from the injected
/// <see cref="TimeProvider"/>, so tests drive it.
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

    public RetentionScheduler(RetentionPass pass, IRegistrySettingsSource settings, ModuleState state, TimeProvider time, ILogger<RetentionScheduler> logger, RetentionSchedulerOptions? options = null)
    {
        _pass = pass;
        _settings = settings;
        _state = state;
        _time = time;
        _logger = logger;
        _options = options ?? new RetentionSchedulerOptions();
        _lastSyncSeen = state.Sync.LastSyncTime;
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
                return scheduled is { } s && s < afterSync ? s : afterSync;
            }
        }

        return scheduled;
    }

    private void OnSettingsChanged(RegistrySettings settings) => Wake();

    private void OnStateChanged()
    {
        var last = _state.Sync.LastSyncTime;
        lock (_gate)
        {
            if (last is null || last == _lastSyncSeen)
            {
                return;
            }

            _lastSyncSeen = last;
            _syncPassPending = true;
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
