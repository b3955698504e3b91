using Cronos;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Storage;

/// <summary>
/// Runs garbage collection on <see cref="GarbageCollectionSettings.Schedule"/> (five-field cron, UTC) while
/// <see cref="GarbageCollectionSettings.Enabled"/>; a settings change re-plans the next run at once.
/// Time comes from the injected <see cref="TimeProvider"/> so tests drive it.
/// </summary>
public sealed partial class GarbageCollectionScheduler : BackgroundService
{
    private readonly IGarbageCollector _collector;
    private readonly IRegistrySettingsSource _settings;
    private readonly TimeProvider _time;
    private readonly ILogger<GarbageCollectionScheduler> _logger;
    private CancellationTokenSource _replan = new();

    public GarbageCollectionScheduler(IGarbageCollector collector, IRegistrySettingsSource settings, TimeProvider time, ILogger<GarbageCollectionScheduler> logger)
    {
        _collector = collector;
        _settings = settings;
        _time = time;
        _logger = logger;
        _settings.Changed += OnSettingsChanged;
    }

    /// <summary>The next planned run, or null when collection is disabled or the schedule is invalid.</summary>
    public DateTimeOffset? NextRun { get; private set; }

    /// <summary>The next occurrence of <paramref name="schedule"/> after <paramref name="from"/>, or null when it never occurs or is invalid.</summary>
    public static DateTimeOffset? NextOccurrence(string schedule, DateTimeOffset from)
    {
        try
        {
            var cron = CronExpression.Parse(schedule.Trim(), CronFormat.Standard);
            return cron.GetNextOccurrence(from, TimeZoneInfo.Utc);
        }
        catch (CronFormatException)
        {
            return null;
        }
    }

    public override void Dispose()
    {
        _settings.Changed -= OnSettingsChanged;
        _replan.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var replan = Volatile.Read(ref _replan);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, replan.Token);
            var gc = _settings.Current.GarbageCollection;
            var now = _time.GetUtcNow();
            NextRun = gc.Enabled ? NextOccurrence(gc.Schedule, now) : null;
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
                    // Task.Delay has an upper bound; wake daily and plan again.
                    await Task.Delay(TimeSpan.FromDays(1), _time, linked.Token);
                    continue;
                }

                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _time, linked.Token);
                }
            }
            catch (OperationCanceledException)
            {
                continue;
            }

            try
            {
                await _collector.CollectAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Log.Failed(_logger, ex);
            }
        }
    }

    private void OnSettingsChanged(RegistrySettings settings)
    {
        var old = Interlocked.Exchange(ref _replan, new CancellationTokenSource());
        old.Cancel();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2102, Level = LogLevel.Error, Message = "Scheduled garbage collection failed")]
        public static partial void Failed(ILogger logger, Exception exception);
    }
}
