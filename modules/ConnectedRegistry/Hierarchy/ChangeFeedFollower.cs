using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Hierarchy;

/// <summary>
/// Child side of the change feed. While this registry is Active at a parent that is this module, it long-polls the
/// parent's <c>changes</c> and, for changes to repositories in its subset (its own and its children's), asks the
/// scheduler for a pass over just those repositories at once (inside the sync window). A cursor the parent no longer
/// holds asks for a full pass. A plain OCI parent offers no feed: the schedule and the full listing do the work then.
/// The parent's answer is read as it arrives, up to <see cref="HierarchyOptions.MaxFeedAnswerBytes"/>: one over it is
/// refused (log 5043, status detail <see cref="FeedRefusedCode"/>) and the follower leaves the work to the schedule
/// for <see cref="HierarchyOptions.FeedRefusedPause"/>. Each entry's repository must be a valid name (the OCI grammar):
/// an invalid one starts no pass, is counted (<see cref="InvalidEntries"/>) and logged escaped (log 5044).
/// </summary>
public sealed partial class ChangeFeedFollower : BackgroundService
{
    /// <summary>The status detail of a change-feed answer over the limit (Warning), cleared by the next good answer.</summary>
    [StatusDetailCode]
    public const string FeedRefusedCode = "ChangeFeedRefused";

    private readonly IRegistrySettingsSource _settings;
    private readonly ModuleState _state;
    private readonly LocalActivation _activation;
    private readonly SyncScheduler _scheduler;
    private readonly HierarchyOptions _options;
    private readonly SyncEnvironment _environment;
    private readonly TimeProvider _time;
    private readonly ILogger<ChangeFeedFollower> _logger;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _cursor = -1;
    private long? _offlineByFeed;

    public ChangeFeedFollower(IRegistrySettingsSource settings, LocalActivation activation, SyncScheduler scheduler, HierarchyOptions options,
        SyncEnvironment environment, TimeProvider time, ILogger<ChangeFeedFollower> logger, ModuleState state)
    {
        _settings = settings;
        _state = state;
        _activation = activation;
        _scheduler = scheduler;
        _options = options;
        _environment = environment;
        _time = time;
        _logger = logger;
        _activation.ActivatedAtParent += cursor =>
        {
            Interlocked.Exchange(ref _cursor, cursor); // the pass that just activated covers everything before it
            Wake();
        };
        _settings.Changed += _ => Wake();
    }

    /// <summary>Changes this follower has turned into targeted passes (tests read it).</summary>
    public long ChangesSeen => Interlocked.Read(ref _changesSeen);

    private long _changesSeen;

    /// <summary>Feed entries skipped for a repository name that is not valid (tests read it).</summary>
    public long InvalidEntries => Interlocked.Read(ref _invalidEntries);

    private long _invalidEntries;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        var failures = 0;

        // A poll, not a retry of one call (Backoff says why Polly does not own it): FeedRetryDelay doubling, at most 32
        // times it and at most 60 s.
        var longest = _options.FeedRetryDelay * 32;
        var backoff = new Backoff(_options.FeedRetryDelay, longest < TimeSpan.FromSeconds(60) ? longest : TimeSpan.FromSeconds(60));
        using var clients = new HierarchyClientCache();
        while (!stoppingToken.IsCancellationRequested)
        {
            var settings = _settings.Current;
            var endpoint = ParentCredentials.ResolveEndpoint(settings, _environment.Get);
            if (endpoint is null || !_activation.ActiveAtParent)
            {
                await WaitAsync(TimeSpan.FromSeconds(30), stoppingToken);
                continue;
            }

            var credentials = ParentCredentials.Resolve(settings, _environment.Get);
            var clientOptions = _activation.ClientOptions;
            var client = clients.Get(endpoint, credentials, clientOptions);

            try
            {
                var more = await PollAsync(client, settings, stoppingToken);
                failures = 0;
                BackOnline();
                if (!more)
                {
                    continue; // the long poll itself was the wait
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (ChangeFeedTooLargeException ex)
            {
                failures = 0;
                await RefusedAsTooLargeAsync(ex, stoppingToken);
            }
            catch (Exception ex)
            {
                // Whatever went wrong (the network, a body that is JSON but not the feed's shape), the loop must
                // outlive it: an exception escaping ExecuteAsync would end the follower and stop the module.
                failures++;
                Log.FeedFailed(_logger, ex.Message);
                if (ParentFailure.IsUnreachable(ex) || ex is OperationCanceledException)
                {
                    WentOffline();
                }

                await WaitAsync(backoff.After(failures), stoppingToken);
            }
        }
    }

    /// <summary>
    /// An answer larger than the feed takes: not a failure to retry at once, since a parent that answers this once likely
    /// answers it again. The schedule's passes cover what the feed would have said.
    /// </summary>
    private async Task RefusedAsTooLargeAsync(ChangeFeedTooLargeException ex, CancellationToken stoppingToken)
    {
        Log.FeedTooLarge(_logger, ex.Limit, _options.FeedRefusedPause.TotalMinutes);
        _state.SetStatusDetail(new StatusDetail(FeedRefusedCode, "Warning",
            $"{ex.Message}: refused; the change feed waits {_options.FeedRefusedPause.TotalMinutes:0.#} min and the sync schedule does its work", _time.GetUtcNow()));
        await WaitAsync(_options.FeedRefusedPause, stoppingToken);
    }

    /// <summary>One long poll; true when the parent has more changes waiting.</summary>
    private async Task<bool> PollAsync(HierarchyClient client, RegistrySettings settings, CancellationToken stoppingToken)
    {
        var since = Interlocked.Read(ref _cursor);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        // A parent that stops answering is noticed within twice the poll: the slack over the wait is at most the wait itself.
        timeout.CancelAfter(TimeSpan.FromSeconds(_options.FeedWaitSeconds + Math.Clamp(_options.FeedWaitSeconds, 1, 15)));
        var response = await client.ChangesAsync(since, since < 0 ? 0 : _options.FeedWaitSeconds, _options.MaxFeedAnswerBytes, timeout.Token);
        if (!response.Ok)
        {
            if (response.NotOffered)
            {
                await WaitAsync(TimeSpan.FromMinutes(5), stoppingToken); // the next sync pass notices the plain parent
                return false;
            }

            if (ParentFailure.IsGatewayFailure(response.Status))
            {
                // A proxy in front of the parent cannot reach it: the parent is as unreachable as when nothing answers.
                throw new HttpRequestException($"the parent's change feed answered {response.Describe()}", null, response.Status);
            }

            throw new FeedException($"the parent answered {response.Describe()}");
        }

        _state.ClearStatusDetail(FeedRefusedCode);
        var page = response.Feed ?? throw new FeedException("the parent's change feed answered without a body");
        var last = page.Last ?? throw new FeedException("the parent's change feed answered without 'last'");
        if (page.Truncated && since >= 0)
        {
            Log.FeedTruncated(_logger);
            _scheduler.SyncNow();
        }
        else if (since >= 0)
        {
            SyncChanged(page, settings);
        }

        // Only move the cursor if nobody reset it meanwhile (a new activation sets its own).
        Interlocked.CompareExchange(ref _cursor, last, since);
        return page.More;
    }

    /// <summary>
    /// Starts a targeted pass for the page's repositories that are in the sync set, while the window is open; a name that
    /// is no repository is counted and logged, never synced.
    /// </summary>
    private void SyncChanged(ChangeFeedPage page, RegistrySettings settings)
    {
        var syncSet = SyncSet.Of(settings);
        var invalid = page.Repositories.Where(r => !RepositoryName.IsValid(r)).ToList();
        if (invalid.Count > 0)
        {
            // A name outside the OCI grammar (a newline, an escape sequence) is no repository: no pass is started
            // for it, and it is logged escaped so that it cannot forge a log line or drive a terminal.
            Interlocked.Add(ref _invalidEntries, invalid.Count);
            Log.InvalidEntries(_logger, invalid.Count, string.Join(", ", invalid.Take(3).Select(LogText.Escape)));
        }

        var changed = page.Repositories
            .Where(r => RepositoryName.IsValid(r) && syncSet.Contains(r))
            .OfType<string>()
            .Distinct(StringComparer.Ordinal)
            .ToList();
        if (changed.Count > 0 && SyncWindow.At(settings.Sync, _time.GetUtcNow()).Open)
        {
            Interlocked.Add(ref _changesSeen, changed.Count);
            Log.Changes(_logger, changed.Count, string.Join(", ", changed.Take(5)));
            _scheduler.SyncRepositoriesNow(changed);
        }
    }

    /// <summary>
    /// The parent did not answer the long poll: <c>Offline</c> at once, instead of at the scheduler's next pass (up to
    /// its idle time later). Only over <c>Online</c> or <c>Syncing</c>: an <c>Unhealthy</c> (a refused sync token, a full
    /// disk) or the scheduler's own <c>Offline</c> says more than the feed knows.
    /// </summary>
    private void WentOffline()
    {
        if (_state.TrySetConnectionState(s => s is ConnectionStates.Online or ConnectionStates.Syncing, ConnectionStates.Offline) is { } version)
        {
            _offlineByFeed = version;
            Log.ParentUnreachable(_logger);
        }
    }

    /// <summary>
    /// The parent answered again: back to <c>Online</c>, but only when the <c>Offline</c> was the feed's and nobody set
    /// another state since (the scheduler's window, a deactivation, a refused token stay as they are).
    /// </summary>
    private void BackOnline()
    {
        if (_offlineByFeed is { } version)
        {
            _offlineByFeed = null;
            _state.TrySetConnectionState(version, ConnectionStates.Online);
        }
    }

    private void Wake() => Volatile.Read(ref _wake).TrySetResult();

    private async Task WaitAsync(TimeSpan delay, CancellationToken stoppingToken)
    {
        var wake = Volatile.Read(ref _wake);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        await Task.WhenAny(wake.Task, Task.Delay(delay, _time, cts.Token));
        await cts.CancelAsync();
        if (wake.Task.IsCompleted)
        {
            Interlocked.CompareExchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), wake);
        }
    }

    private sealed class FeedException(string message) : Exception(message);

    private static partial class Log
    {
        [LoggerMessage(EventId = 5040, Level = LogLevel.Information, Message = "The parent reports changes in {Count} repositories ({Repositories}); syncing them now")]
        public static partial void Changes(ILogger logger, int count, string repositories);

        [LoggerMessage(EventId = 5041, Level = LogLevel.Warning, Message = "The parent's change feed failed: {Reason}")]
        public static partial void FeedFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 5042, Level = LogLevel.Information, Message = "The parent no longer holds this registry's change feed position; running a full pass")]
        public static partial void FeedTruncated(ILogger logger);

        [LoggerMessage(EventId = 5043, Level = LogLevel.Warning, Message = "The parent's change feed answer is over {Limit} bytes: refused, not read further; following the sync schedule for {Minutes} min")]
        public static partial void FeedTooLarge(ILogger logger, long limit, double minutes);

        [LoggerMessage(EventId = 5045, Level = LogLevel.Warning, Message = "The parent does not answer the change feed: Offline until it does")]
        public static partial void ParentUnreachable(ILogger logger);

        [LoggerMessage(EventId = 5044, Level = LogLevel.Warning, Message = "The parent's change feed named {Count} repositories that are not valid names, skipped: {Names}")]
        public static partial void InvalidEntries(ILogger logger, int count, string names);
    }
}
