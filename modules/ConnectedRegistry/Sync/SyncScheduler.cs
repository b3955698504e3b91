using System.Net;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Decides when sync runs. The cron schedule opens windows (<see cref="SyncWindow"/>); inside a window sync runs,
/// idles briefly, and runs again until the window closes, at which point running work is cancelled (it resumes
/// in the next window). <see cref="SyncNow"/> starts a pass at once, inside or outside the schedule. Settings
/// changes wake the loop, so a new schedule, window or subset applies without a restart. Reports
/// <c>connectionState</c>, <c>nextSyncTime</c>, <c>windowEndTime</c>, <c>lastSyncTime</c> and <c>lastError</c>; a disk error
/// while storing is <c>Unhealthy</c> with the status detail <c>DiskError</c> until a pass completes again.
/// A client change recorded in the <see cref="SyncOutbox"/> starts a pass over its repositories
/// <see cref="SyncSchedulerOptions.PushDelay"/> after the last change of a burst, when the window is open and the last
/// pass reached the parent (the way the change feed brings the parent's changes down); else the schedule delivers it.
/// </summary>
public sealed partial class SyncScheduler : BackgroundService
{
    /// <summary>
    /// The status detail (Error) of a parent that refuses this registry's sync token (401 or 403 to the pass's first
    /// calls): <c>connectionState</c> is <c>Unhealthy</c> until a pass reaches the parent again. Serving goes on.
    /// </summary>
    [StatusDetailCode]
    public const string CredentialsRefusedCode = "ParentCredentialsRefused";

    private readonly IRegistrySettingsSource _settings;
    private readonly ModuleState _state;
    private readonly ISyncWork _work;
    private readonly TimeProvider _time;
    private readonly ILogger<SyncScheduler> _logger;
    private readonly SyncSchedulerOptions _options;
    private readonly Lock _targetedGate = new();
    private TaskCompletionSource _wake = NewSignal();
    private HashSet<string> _targeted = new(StringComparer.Ordinal);
    private int _syncNowRequested;
    private int _waits;
    private bool _lastPassSucceeded;
    private int _networkFailures;
    private volatile bool _parentReached;
    private readonly HashSet<string> _pushed = new(StringComparer.Ordinal);
    private ITimer? _pushTimer;

    private readonly RegistryMetrics? _metrics;

    public SyncScheduler(IRegistrySettingsSource settings, ModuleState state, ISyncWork work, TimeProvider time, ILogger<SyncScheduler> logger, SyncSchedulerOptions? options = null, RegistryMetrics? metrics = null,
        SyncOutbox? outbox = null)
    {
        _metrics = metrics;
        _settings = settings;
        _state = state;
        _work = work;
        _time = time;
        _logger = logger;
        _options = options ?? new SyncSchedulerOptions();
        _settings.Changed += _ => Wake();
        if (outbox is not null)
        {
            outbox.Recorded += PushRecorded;
        }
    }

    /// <summary>How many times the loop has started waiting (tests advance a fake clock only once it waits).</summary>
    internal int Waits => Volatile.Read(ref _waits);

    /// <summary>Starts a sync pass at once (the <c>syncNow</c> direct method). Returns immediately.</summary>
    public void SyncNow()
    {
        Interlocked.Exchange(ref _syncNowRequested, 1);
        Log.SyncNowRequested(_logger);
        Wake();
    }

    /// <summary>
    /// Starts a pass at once for just <paramref name="repositories"/> (the parent's change feed named them), when the
    /// schedule's window is open; outside it the next window's full pass picks the changes up.
    /// </summary>
    public void SyncRepositoriesNow(IEnumerable<string> repositories)
    {
        lock (_targetedGate)
        {
            _targeted.UnionWith(repositories);
        }

        Wake();
    }

    /// <summary>A client change waits in the outbox: (re)starts the debounce, so a burst of pushes is one pass.</summary>
    private void PushRecorded(string repository)
    {
        lock (_targetedGate)
        {
            _pushed.Add(repository);
            _pushTimer ??= _time.CreateTimer(_ => PushSettled(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _pushTimer.Change(_options.PushDelay, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// The pushes settled: a pass over their repositories (sync up delivers the whole outbox first) when the link is open.
    /// Outside the window, or while the parent is not reached, nothing is woken: the outbox waits for the schedule.
    /// </summary>
    private void PushSettled()
    {
        List<string> pushed;
        lock (_targetedGate)
        {
            pushed = [.. _pushed];
            _pushed.Clear();
        }

        var settings = _settings.Current;
        if (pushed.Count == 0 || !_parentReached || !_work.IsConfigured(settings) || !SyncWindow.At(settings.Sync, _time.GetUtcNow()).Open)
        {
            return;
        }

        Log.PushesGoUp(_logger, pushed.Count);
        SyncRepositoriesNow(pushed);
    }

    private IReadOnlyList<string> TakeTargeted()
    {
        lock (_targetedGate)
        {
            if (_targeted.Count == 0)
            {
                return [];
            }

            var taken = _targeted.Order(StringComparer.Ordinal).ToList();
            _targeted = new HashSet<string>(StringComparer.Ordinal);
            return taken;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await StepAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // Never let a scheduling bug stop the registry (a BackgroundService failure stops the host): report, pause, go on.
                Log.SchedulerError(_logger, ex);
                _state.UpdateSync(s => s with { LastError = "sync scheduler error: " + ex.Message });
                await WaitAsync(_options.RetryDelay, stoppingToken);
            }
        }
    }

    /// <summary>One turn of the loop: plan, maybe run a pass, then wait.</summary>
    private async Task StepAsync(CancellationToken stoppingToken)
    {
        var settings = _settings.Current;
        var now = _time.GetUtcNow();
        var forced = Interlocked.Exchange(ref _syncNowRequested, 0) == 1;
        if (!_work.IsConfigured(settings))
        {
            await WaitUnconfiguredAsync(stoppingToken);
            return;
        }

        var window = SyncWindow.At(settings.Sync, now);
        if (!window.Open && !forced)
        {
            TakeTargeted(); // the next window's full pass covers them
            _state.SetConnectionState(ConnectionStates.Offline);
            _state.UpdateSync(s => s with { NextSyncTime = window.NextStart, WindowEndTime = null });
            await WaitAsync(window.NextStart is { } start ? start - now : null, stoppingToken);
            return;
        }

        var windowEnd = window.Open ? window.WindowEnd : null; // a forced pass outside the schedule runs to completion
        _state.UpdateSync(s => s with { NextSyncTime = window.NextStart, WindowEndTime = windowEnd });
        var targeted = TakeTargeted();
        if (targeted.Count > 0 && !forced && _lastPassSucceeded)
        {
            // Only what the change feed named; the regular full pass follows after the usual idle time.
            settings = SyncSet.Targeted(settings, targeted); // the filters (own and children's) stay as in a full pass
        }

        var succeeded = await RunOnceAsync(settings, windowEnd is { } end ? end - now : null, stoppingToken);
        _lastPassSucceeded = succeeded;
        _parentReached = _state.Snapshot().ConnectionState == ConnectionStates.Online;
        if (!stoppingToken.IsCancellationRequested)
        {
            await WaitAfterPassAsync(window, windowEnd, succeeded, stoppingToken);
        }
    }

    /// <summary>With no parent configured: nothing planned, wait to be woken (a twin update, syncNow).</summary>
    private async Task WaitUnconfiguredAsync(CancellationToken stoppingToken)
    {
        if (_settings.NotApplied is null)
        {
            // With no settings in force yet (the start, before the last good document or the twin applies) this run
            // knows nothing about the parent: the state the previous run reported stays until it does.
            _state.SetConnectionState(ConnectionStates.Offline);
        }

        _state.UpdateSync(s => s with { NextSyncTime = null, WindowEndTime = null });
        await WaitAsync(null, stoppingToken);
    }

    /// <summary>After a pass: the idle time (or the backoff after a failure), cut at the window's end; none when the window closed.</summary>
    private async Task WaitAfterPassAsync(SyncWindow window, DateTimeOffset? windowEnd, bool succeeded, CancellationToken stoppingToken)
    {
        var now = _time.GetUtcNow();
        if (windowEnd is { } close && now >= close)
        {
            return; // the window closed: re-plan (reports Offline until the next one)
        }

        if (!window.Open)
        {
            return; // a syncNow pass outside the schedule: re-plan, which waits for the next window
        }

        var idle = succeeded ? _options.IdleDelay : _networkFailures > 0 ? NetworkBackoff(_networkFailures) : _options.RetryDelay;
        if (windowEnd is { } closing && closing - now < idle)
        {
            idle = closing - now;
        }

        await WaitAsync(idle, stoppingToken);
    }

    /// <summary>
    /// The pause after the <paramref name="failures"/>-th pass in a row that ended on a network error (<see cref="Backoff"/>:
    /// the loop is a schedule, its wait also ends on a wake or at the window's end): doubling from
    /// <see cref="SyncSchedulerOptions.NetworkRetryDelay"/> up to <see cref="SyncSchedulerOptions.MaxNetworkRetryDelay"/>,
    /// each drawn between half and all of it (so children of one parent do not retry in step).
    /// </summary>
    internal TimeSpan NetworkBackoff(int failures) => new Backoff(_options.NetworkRetryDelay, _options.MaxNetworkRetryDelay, Jitter: true).After(failures);

    private async Task<bool> RunOnceAsync(RegistrySettings settings, TimeSpan? untilWindowEnd, CancellationToken stoppingToken)
    {
        using var windowCts = untilWindowEnd is { } left ? new CancellationTokenSource(left > TimeSpan.Zero ? left : TimeSpan.Zero, _time) : new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, windowCts.Token);
        _state.SetConnectionState(ConnectionStates.Syncing);
        var failuresBefore = _networkFailures;
        _networkFailures = 0;
        var started = _time.GetTimestamp();
        var result = SyncResults.Failed;
        try
        {
            await _work.RunAsync(settings, linked.Token);
            result = SyncResults.Succeeded;
            var finished = _time.GetUtcNow();
            _state.UpdateSync(s => s with { LastSyncTime = finished, LastError = null });
            _state.ClearStatusDetail(LocalStorageException.StatusCode);
            _state.ClearStatusDetail(CredentialsRefusedCode);
            _state.SetConnectionState(ConnectionStates.Online);
            return true;
        }
        catch (Exception ex)
        {
            var end = Classify(ex, stoppingToken.IsCancellationRequested, windowCts.IsCancellationRequested, failuresBefore);
            result = end.Result;
            if (end.LastError is { } lastError)
            {
                _state.UpdateSync(s => s with { LastError = lastError });
            }

            if (end.ClearDetail is { } code)
            {
                _state.ClearStatusDetail(code);
            }

            if (end.Detail is { } detail)
            {
                _state.SetStatusDetail(detail);
            }

            _state.SetConnectionState(end.ConnectionState);
            return false;
        }
        finally
        {
            _metrics?.SyncPassEnded(result, _time.GetElapsedTime(started));
        }
    }

    /// <summary>How a pass that threw ends: the result counted, the connection state, the reported error and a status detail to set or clear.</summary>
    private sealed record PassEnd(string Result, string ConnectionState, string? LastError, StatusDetail? Detail = null, string? ClearDetail = null);

    /// <summary>
    /// The one mapping from what a pass threw to how it ends (logged here); <paramref name="stopping"/>: the registry
    /// stops, <paramref name="windowClosed"/>: the sync window closed during the pass.
    /// </summary>
    private PassEnd Classify(Exception ex, bool stopping, bool windowClosed, int failuresBefore)
    {
        switch (ex)
        {
            case OperationCanceledException when stopping:
                return new PassEnd(SyncResults.Cancelled, ConnectionStates.Offline, LastError: null);
            case OperationCanceledException when windowClosed:
                Log.WindowClosed(_logger);
                return new PassEnd(SyncResults.Cancelled, ConnectionStates.Offline, LastError: null);
            case ActivationRefusedException refused:
                // Another instance holds this registry's identity, the parent refused it, or the operator deactivated it.
                Log.ActivationRefused(_logger, ex.Message);
                return new PassEnd(SyncResults.ActivationRefused, refused.Deactivated ? ConnectionStates.Offline : ConnectionStates.Unhealthy, ex.Message);
            case StorageFullException:
                // Pulls are served, pushes refused; nothing comes down until space is freed. The next pass checks again.
                Log.DiskFull(_logger, ex.Message);
                return new PassEnd(SyncResults.Failed, ConnectionStates.Unhealthy, ex.Message);
            case LocalStorageException:
                // The parent may be fine; this registry cannot store what it sends. Not Offline: Unhealthy, with the reason.
                Log.DiskError(_logger, ex.Message);
                return new PassEnd(SyncResults.DiskError, ConnectionStates.Unhealthy, ex.Message,
                    new StatusDetail(LocalStorageException.StatusCode, "Error", ex.Message, _time.GetUtcNow()));
            case SyncIncompleteException:
                // The parent answered; some content could not be copied. Reachable, so not Offline.
                Log.SyncIncomplete(_logger, ex.Message);
                return new PassEnd(SyncResults.Incomplete, ConnectionStates.Online, ex.Message, ClearDetail: CredentialsRefusedCode);
            case ParentRegistryException { Status: HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden } refused:
                // The parent answers but refuses the sync token (a wrong password, a revoked token): not a link that may come
                // back by itself, so not Offline. The message names the status, never the credentials.
                Log.CredentialsRefused(_logger, ex.Message);
                return new PassEnd(SyncResults.Failed, ConnectionStates.Unhealthy, ex.Message, new StatusDetail(CredentialsRefusedCode, "Error",
                    $"the parent refuses this registry's sync token ({(int)refused.Status}): check parent.syncTokenName and its password", _time.GetUtcNow()));
            default:
                // The link dropped or the parent is down: inside the window, try again after a short backoff, not the idle time.
                _networkFailures = ParentFailure.IsUnreachable(ex) ? failuresBefore + 1 : 0;
                Log.SyncFailed(_logger, ex.GetType().Name, ex.Message);
                return new PassEnd(SyncResults.Failed, ConnectionStates.Offline, ex.Message);
        }
    }

    private void Wake() => Volatile.Read(ref _wake).TrySetResult();

    public override void Dispose()
    {
        lock (_targetedGate)
        {
            _pushTimer?.Dispose();
            _pushTimer = null;
        }

        base.Dispose();
    }

    /// <summary>
    /// The longest single wait. A timer cannot wait longer than about 49.7 days (its milliseconds are a uint), so a
    /// window further away (a quarterly or yearly schedule) is waited for in steps of this, the plan made again after
    /// each; before, such a wait threw, and the loop reported a scheduler error and woke every <c>RetryDelay</c>.
    /// </summary>
    internal static readonly TimeSpan MaxWait = TimeSpan.FromDays(1);

    private async Task WaitAsync(TimeSpan? delay, CancellationToken stoppingToken)
    {
        var wake = Volatile.Read(ref _wake);
        if (!wake.Task.IsCompleted)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var tasks = new List<Task> { wake.Task };
            if (delay is { } d)
            {
                tasks.Add(Task.Delay(d <= TimeSpan.Zero ? TimeSpan.Zero : d < MaxWait ? d : MaxWait, _time, cts.Token));
            }

            var stopped = Task.Delay(Timeout.InfiniteTimeSpan, cts.Token);
            tasks.Add(stopped);
            Interlocked.Increment(ref _waits);
            await Task.WhenAny(tasks);
            await cts.CancelAsync();
        }

        if (wake.Task.IsCompleted)
        {
            Interlocked.CompareExchange(ref _wake, NewSignal(), wake);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static partial class Log
    {
        [LoggerMessage(EventId = 4030, Level = LogLevel.Information, Message = "Sync window closed; unfinished work resumes in the next window")]
        public static partial void WindowClosed(ILogger logger);

        [LoggerMessage(EventId = 4031, Level = LogLevel.Warning, Message = "Sync with the parent failed ({Kind}): {Reason}")]
        public static partial void SyncFailed(ILogger logger, string kind, string reason);

        [LoggerMessage(EventId = 4033, Level = LogLevel.Warning, Message = "Sync pass incomplete: {Reason}")]
        public static partial void SyncIncomplete(ILogger logger, string reason);

        [LoggerMessage(EventId = 4036, Level = LogLevel.Error, Message = "Sync cannot store content: {Reason}")]
        public static partial void DiskError(ILogger logger, string reason);

        [LoggerMessage(EventId = 4037, Level = LogLevel.Warning, Message = "Sync paused: {Reason}")]
        public static partial void DiskFull(ILogger logger, string reason);

        [LoggerMessage(EventId = 4034, Level = LogLevel.Error, Message = "Sync scheduler error; retrying shortly")]
        public static partial void SchedulerError(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 4035, Level = LogLevel.Warning, Message = "Not syncing: {Reason}")]
        public static partial void ActivationRefused(ILogger logger, string reason);

        [LoggerMessage(EventId = 4039, Level = LogLevel.Error, Message = "The parent refuses this registry's sync token: {Reason}")]
        public static partial void CredentialsRefused(ILogger logger, string reason);

        [LoggerMessage(EventId = 4038, Level = LogLevel.Information, Message = "Local changes in {Count} repositories wait for the parent; syncing up now")]
        public static partial void PushesGoUp(ILogger logger, int count);

        [LoggerMessage(EventId = 4032, Level = LogLevel.Information, Message = "Sync requested now")]
        public static partial void SyncNowRequested(ILogger logger);
    }
}

public sealed record SyncSchedulerOptions
{
    /// <summary>Pause between passes while a window is open (continuous sync).</summary>
    public TimeSpan IdleDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Pause after a failed pass before trying again inside the window.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>First pause after a pass that ended on a network error (the link dropped), inside the window; doubled per such pass in a row.</summary>
    public TimeSpan NetworkRetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest pause after passes that ended on network errors.</summary>
    public TimeSpan MaxNetworkRetryDelay { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long after the last client push of a burst its sync-up starts (when the link is open).</summary>
    public TimeSpan PushDelay { get; init; } = TimeSpan.FromMilliseconds(500);
}
