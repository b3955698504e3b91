using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Keeps the <see cref="LinkThrottle"/> at the cap that <c>sync.bandwidth</c> sets now (<see cref="BandwidthPeriod"/>):
/// at once when the twin changes, and when a schedule opens or closes (timed with the injected
/// <see cref="TimeProvider"/>). The cap in force is reported as <c>sync.bandwidthLimitMbps</c>.
/// </summary>
public sealed partial class BandwidthLimiter : BackgroundService
{
    private readonly IRegistrySettingsSource _settings;
    private readonly LinkThrottle _throttle;
    private readonly ModuleState _state;
    private readonly TimeProvider _time;
    private readonly ILogger<BandwidthLimiter> _logger;
    private readonly Lock _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private double? _applied;
    private bool _appliedOnce;
    private int _waits;

    public BandwidthLimiter(IRegistrySettingsSource settings, LinkThrottle throttle, ModuleState state, TimeProvider time, ILogger<BandwidthLimiter> logger)
    {
        _settings = settings;
        _throttle = throttle;
        _state = state;
        _time = time;
        _logger = logger;
        _settings.Changed += OnSettingsChanged;
        Apply(_settings.Current.Sync.Bandwidth);
    }

    /// <summary>How many times the loop has started waiting (tests advance a fake clock only once it waits).</summary>
    internal int Waits => Volatile.Read(ref _waits);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            Task changed;
            lock (_gate)
            {
                changed = _changed.Task;
            }

            var next = Apply(_settings.Current.Sync.Bandwidth);
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var waits = new List<Task> { changed, Task.Delay(Timeout.InfiniteTimeSpan, cts.Token) };
            if (next is { } at)
            {
                var delay = at - _time.GetUtcNow();
                waits.Add(Task.Delay(delay > TimeSpan.Zero ? delay : TimeSpan.Zero, _time, cts.Token));
            }

            Interlocked.Increment(ref _waits);
            await Task.WhenAny(waits);
            await cts.CancelAsync();
            lock (_gate)
            {
                if (_changed.Task.IsCompleted)
                {
                    _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }
        }
    }

    public override void Dispose()
    {
        _settings.Changed -= OnSettingsChanged;
        base.Dispose();
    }

    private void OnSettingsChanged(RegistrySettings settings)
    {
        // At once, on the caller's thread: the new cap must not wait for the loop to be scheduled.
        Apply(settings.Sync.Bandwidth);
        lock (_gate)
        {
            _changed.TrySetResult();
        }
    }

    /// <summary>Sets the cap that applies now; returns when it may change next.</summary>
    private DateTimeOffset? Apply(BandwidthSettings bandwidth)
    {
        var period = BandwidthPeriod.At(bandwidth, _time.GetUtcNow());
        lock (_gate)
        {
            if (_appliedOnce && _applied == period.LimitMbps)
            {
                return period.NextChange;
            }

            _applied = period.LimitMbps;
            _appliedOnce = true;
            _throttle.SetLimit(period.LimitMbps * 1_000_000);
        }

        _state.UpdateSync(s => s with { BandwidthLimitMbps = period.LimitMbps });
        if (period.LimitMbps is { } mbps)
        {
            Log.Limited(_logger, mbps);
        }
        else
        {
            Log.Unlimited(_logger);
        }

        return period.NextChange;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "Traffic to and from the parent capped at {Mbps} Mbit/s")]
        public static partial void Limited(ILogger logger, double mbps);

        [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "Traffic to and from the parent not capped")]
        public static partial void Unlimited(ILogger logger);
    }
}
