using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Tests.Sync;

/// <summary>The scheduler driven by a fake clock: cron windows, continuous mode, syncNow, window close, settings changes.</summary>
public sealed class SyncSchedulerTests : SchedulerTestBase
{
    private readonly RecordingWork _work;

    public SyncSchedulerTests() => _work = new RecordingWork(_time);

    private static RegistrySettings WithSync(SyncSettings sync) => new()
    {
        Name = "edge-one",
        Parent = new ParentSettings { Endpoint = new Uri("http://parent.invalid") },
        Sync = sync,
    };

    private async Task StartAsync(SyncSettings sync)
    {
        await StartSchedulerAsync(WithSync(sync), _work,
            new SyncSchedulerOptions { IdleDelay = TimeSpan.FromSeconds(10), RetryDelay = TimeSpan.FromSeconds(20) });
    }

    [Fact]
    public async Task Continuous_sync_runs_idles_and_runs_again()
    {
        await StartAsync(new SyncSettings());
        await Poll.UntilAsync(() => _scheduler.Waits >= 1, "the scheduler parked on wait 1");
        Assert.Equal([Start], _work.Runs);
        Assert.Equal(ConnectionStates.Online, _state.Snapshot().ConnectionState);
        Assert.Equal(Start, _state.Snapshot().Sync.LastSyncTime);

        _time.Advance(TimeSpan.FromSeconds(9)); // not yet: the next pass below is at 10 s, none at 9 s
        _time.Advance(TimeSpan.FromSeconds(1));
        await Poll.UntilAsync(() => _scheduler.Waits >= 2, "the scheduler parked on wait 2");
        Assert.Equal([Start, Start.AddSeconds(10)], _work.Runs);
    }

    [Fact]
    public async Task Cron_window_opens_at_occurrence_and_reports_times()
    {
        // At 00:10 with "0 2 * * *" and a 30-minute window: outside; the next window opens at 02:00.
        await StartAsync(new SyncSettings { Schedule = "0 2 * * *", Window = TimeSpan.FromMinutes(30) });
        await Poll.UntilAsync(() => _scheduler.Waits >= 1, "the scheduler parked on wait 1");
        Assert.Empty(_work.Runs);
        var snapshot = _state.Snapshot();
        Assert.Equal(ConnectionStates.Offline, snapshot.ConnectionState);
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 2, 0, 0, TimeSpan.Zero), snapshot.Sync.NextSyncTime);
        Assert.Null(snapshot.Sync.WindowEndTime);

        _time.Advance(TimeSpan.FromMinutes(110)); // 02:00
        await Poll.UntilAsync(() => _scheduler.Waits >= 2, "the scheduler parked on wait 2");
        Assert.Equal([new DateTimeOffset(2026, 3, 1, 2, 0, 0, TimeSpan.Zero)], _work.Runs);
        snapshot = _state.Snapshot();
        Assert.Equal(ConnectionStates.Online, snapshot.ConnectionState);
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 2, 30, 0, TimeSpan.Zero), snapshot.Sync.WindowEndTime);
        Assert.Equal(new DateTimeOffset(2026, 3, 2, 2, 0, 0, TimeSpan.Zero), snapshot.Sync.NextSyncTime);

        // Inside the window it keeps syncing every idle period; after 02:30 it stops and reports Offline.
        for (var i = 0; i < 3; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(10));
            await Poll.UntilAsync(() => _scheduler.Waits >= 3 + i, $"the scheduler parked on wait {3 + i}");
        }

        Assert.Equal(4, _work.Runs.Count);
        _time.Advance(TimeSpan.FromMinutes(30));
        await Poll.UntilAsync(() => _state.Snapshot().ConnectionState == ConnectionStates.Offline, "Offline after the window");
        var runs = _work.Runs.Count;
        Assert.Null(_state.Snapshot().Sync.WindowEndTime);
        _time.Advance(TimeSpan.FromMinutes(60)); // 03:30+: still outside
        _time.Advance(new DateTimeOffset(2026, 3, 2, 2, 0, 0, TimeSpan.Zero) - _time.GetUtcNow());
        await Poll.UntilAsync(() => _work.Runs.Count == runs + 1, "the next day's window pass");
        Assert.Equal(new DateTimeOffset(2026, 3, 2, 2, 0, 0, TimeSpan.Zero), _work.Runs[^1]); // none in between
    }

    [Fact]
    public async Task Work_still_running_when_the_window_closes_is_cancelled_and_resumes_next_window()
    {
        _work.BlockUntilCancelled = true;
        await StartAsync(new SyncSettings { Schedule = "0 * * * *", Window = TimeSpan.FromMinutes(30) }); // 00:10: inside 00:00–00:30
        await Poll.UntilAsync(() => _work.Runs.Count == 1 && _state.Snapshot().ConnectionState == ConnectionStates.Syncing, "a running pass");

        _time.Advance(TimeSpan.FromMinutes(20)); // 00:30: window closes
        await Poll.UntilAsync(() => _work.Cancelled >= 1, "the pass to be cancelled");
        await Poll.UntilAsync(() => _state.Snapshot().ConnectionState == ConnectionStates.Offline, "Offline");
        Assert.Equal(1, _work.Cancelled);
        Assert.Single(_work.Runs);
        Assert.Null(_state.Snapshot().Sync.LastSyncTime);

        _work.BlockUntilCancelled = false;
        _time.Advance(TimeSpan.FromMinutes(30)); // 01:00: next window
        await Poll.UntilAsync(() => _work.Runs.Count == 2 && _state.Snapshot().ConnectionState == ConnectionStates.Online, "the next window's pass");
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 1, 0, 0, TimeSpan.Zero), _work.Runs[1]);
    }

    [Fact]
    public async Task SyncNow_runs_at_once_outside_the_window()
    {
        await StartAsync(new SyncSettings { Schedule = "0 3 * * *", Window = TimeSpan.FromHours(1) });
        await Poll.UntilAsync(() => _scheduler.Waits >= 1, "the scheduler parked on wait 1");
        Assert.Empty(_work.Runs);

        _scheduler.SyncNow();
        await Poll.UntilAsync(() => _work.Runs.Count == 1, "the syncNow pass");
        await Poll.UntilAsync(() => _scheduler.Waits >= 2, "the scheduler parked on wait 2");
        Assert.Equal(Start, _work.Runs[0]);
        Assert.Equal(Start, _state.Snapshot().Sync.LastSyncTime);

        // The schedule still holds afterwards: the 03:00 window opens as planned.
        Assert.Equal(ConnectionStates.Offline, _state.Snapshot().ConnectionState);
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 3, 0, 0, TimeSpan.Zero), _state.Snapshot().Sync.NextSyncTime);
        _time.Advance(new DateTimeOffset(2026, 3, 1, 3, 0, 0, TimeSpan.Zero) - _time.GetUtcNow());
        await Poll.UntilAsync(() => _work.Runs.Count == 2, "the scheduled pass after syncNow");
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 3, 0, 0, TimeSpan.Zero), _work.Runs[1]);
    }

    [Fact]
    public async Task A_window_further_away_than_one_timer_can_wait_is_waited_for_without_a_scheduler_error()
    {
        // From 1 March, "0 2 1 7 *" opens on 1 July at 02:00: 122 days away, beyond what one timer waits (49.7 days).
        var july = new DateTimeOffset(2026, 7, 1, 2, 0, 0, TimeSpan.Zero);
        await StartAsync(new SyncSettings { Schedule = "0 2 1 7 *", Window = TimeSpan.FromHours(1) });
        await Poll.UntilAsync(() => _scheduler.Waits >= 1, "the scheduler parked on wait 1");
        Assert.Null(_state.Snapshot().Sync.LastError);
        Assert.Equal(july, _state.Snapshot().Sync.NextSyncTime);

        // A syncNow pass outside the schedule, then the long wait again.
        _scheduler.SyncNow();
        await Poll.UntilAsync(() => _work.Runs.Count == 1 && _scheduler.Waits >= 2, "the syncNow pass, then a wait");
        Assert.Null(_state.Snapshot().Sync.LastError);

        // A month on, nothing has run; at 02:00 on 1 July the window's pass does.
        _time.Advance(TimeSpan.FromDays(30));
        await Poll.UntilAsync(() => _scheduler.Waits >= 3, "the scheduler planned again and parked");
        Assert.Single(_work.Runs);
        _time.Advance(july - _time.GetUtcNow());
        await Poll.UntilAsync(() => _work.Runs.Count == 2, "the July window's pass");
        Assert.Equal(july, _work.Runs[1]);
        Assert.Null(_state.Snapshot().Sync.LastError);
    }

    [Fact]
    public async Task SyncNow_inside_a_continuous_idle_runs_without_waiting()
    {
        await StartAsync(new SyncSettings());
        await Poll.UntilAsync(() => _scheduler.Waits >= 1, "the scheduler parked on wait 1");
        _scheduler.SyncNow();
        await Poll.UntilAsync(() => _work.Runs.Count == 2, "the syncNow pass");
        Assert.Equal(Start, _work.Runs[1]);
    }

    [Fact]
    public async Task Changed_schedule_applies_without_restart()
    {
        await StartAsync(new SyncSettings { Schedule = "0 3 * * *", Window = TimeSpan.FromHours(1) });
        await Poll.UntilAsync(() => _scheduler.Waits >= 1, "the scheduler parked on wait 1");
        Assert.Empty(_work.Runs);

        _settings.Apply(WithSync(new SyncSettings())); // continuous now
        await Poll.UntilAsync(() => _work.Runs.Count == 1, "a pass after the change");
        Assert.Null(_state.Snapshot().Sync.NextSyncTime);
    }

    [Fact]
    public async Task A_refused_sync_token_reports_unhealthy_with_its_detail_and_retries_after_the_retry_delay()
    {
        // Refused, not a network error: the retry delay (a network error retries sooner, see below).
        _work.Failure = new ParentRegistryException(System.Net.HttpStatusCode.Unauthorized, "UNAUTHORIZED", "authentication required");
        await StartAsync(new SyncSettings());
        await Poll.UntilAsync(() => _scheduler.Waits >= 1, "the scheduler parked on wait 1");
        var snapshot = _state.Snapshot();
        // The parent answers but refuses the sync token: not Offline (a link that comes back by itself), Unhealthy with the reason.
        Assert.Equal(ConnectionStates.Unhealthy, snapshot.ConnectionState);
        Assert.Equal("authentication required", snapshot.Sync.LastError);
        Assert.Contains(snapshot.StatusDetails, d => d.Code == SyncScheduler.CredentialsRefusedCode && d.Type == "Error");

        _work.Failure = null;
        _time.Advance(TimeSpan.FromSeconds(10)); // idle delay: not yet (retry delay is 20 s)
        _time.Advance(TimeSpan.FromSeconds(10));
        await Poll.UntilAsync(() => _scheduler.Waits >= 2, "the scheduler parked on wait 2");
        Assert.Equal([Start, Start.AddSeconds(20)], _work.Runs); // the retry at 20 s, none at 10 s
        snapshot = _state.Snapshot();
        Assert.Equal(ConnectionStates.Online, snapshot.ConnectionState);
        Assert.Null(snapshot.Sync.LastError);
        Assert.DoesNotContain(snapshot.StatusDetails, d => d.Code == SyncScheduler.CredentialsRefusedCode);
    }

    [Fact]
    public async Task An_unexpected_error_is_reported_and_the_scheduler_keeps_going()
    {
        _work.BrokenConfiguration = true;
        await StartAsync(new SyncSettings());
        await Poll.UntilAsync(() => _scheduler.Waits >= 1, "the scheduler parked on wait 1");
        Assert.Equal("sync scheduler error: broken", _state.Snapshot().Sync.LastError);
        Assert.Empty(_work.Runs);

        _work.BrokenConfiguration = false;
        _time.Advance(TimeSpan.FromSeconds(20)); // the retry delay
        await Poll.UntilAsync(() => _work.Runs.Count == 1 && _state.Snapshot().Sync.LastError is null, "a pass once the error is gone");
    }

    [Fact]
    public async Task Without_a_parent_nothing_runs()
    {
        await StartSchedulerAsync(RegistrySettings.Default, _work);
        await Poll.UntilAsync(() => _scheduler.Waits >= 1, "the scheduler parked on wait 1");
        Assert.Empty(_time.Due); // it waits for a settings change, not for the clock: an hour later it is still parked
        _time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(1, _scheduler.Waits);
        Assert.Empty(_work.Runs);
        Assert.Equal(ConnectionStates.Offline, _state.Snapshot().ConnectionState);
    }

    [Fact]
    public async Task A_pass_that_ends_on_a_network_error_is_retried_after_a_short_growing_backoff_not_the_retry_delay()
    {
        _work.Failure = new HttpRequestException("Connection reset by peer");
        await StartAsync(new SyncSettings());
        await Poll.UntilAsync(() => _scheduler.Waits >= 1, "the scheduler parked on wait 1");

        // Backoffs of 0.5–1 s, 1–2 s, 2–4 s (jittered, doubling): each pass comes long before the 20 s retry delay.
        for (var pass = 2; pass <= 4; pass++)
        {
            var ceiling = TimeSpan.FromSeconds(Math.Pow(2, pass - 2));
            _time.Advance(ceiling);
            await Poll.UntilAsync(() => _scheduler.Waits >= pass, $"the scheduler parked on wait {pass}");
            Assert.Equal(pass, _work.Runs.Count);
            var gap = _work.Runs[^1] - _work.Runs[^2];
            Assert.InRange(gap, ceiling / 2, ceiling);
        }

        Assert.Equal(ConnectionStates.Offline, _state.Snapshot().ConnectionState);

        // The link is back: one success resets the backoff; the next network error waits at most 1 s again.
        _work.Failure = null;
        _time.Advance(TimeSpan.FromSeconds(8));
        await Poll.UntilAsync(() => _scheduler.Waits >= 5, "the scheduler parked on wait 5");
        Assert.Equal(ConnectionStates.Online, _state.Snapshot().ConnectionState);
        _work.Failure = new IOException("reset");
        _time.Advance(TimeSpan.FromSeconds(10)); // the idle delay after the success
        await Poll.UntilAsync(() => _scheduler.Waits >= 6, "the scheduler parked on wait 6");
        _time.Advance(TimeSpan.FromSeconds(1));
        await Poll.UntilAsync(() => _scheduler.Waits >= 7, "the scheduler parked on wait 7");
        Assert.InRange(_work.Runs[^1] - _work.Runs[^2], TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void The_network_backoff_never_exceeds_its_cap()
    {
        var scheduler = new SyncScheduler(_settings, _state, _work, _time, Microsoft.Extensions.Logging.Abstractions.NullLogger<SyncScheduler>.Instance);
        for (var failures = 1; failures < 100; failures++)
        {
            Assert.InRange(scheduler.NetworkBackoff(failures), TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(15));
        }

        Assert.InRange(scheduler.NetworkBackoff(40), TimeSpan.FromSeconds(7.5), TimeSpan.FromSeconds(15));
    }

    private sealed class RecordingWork(TimeProvider time) : ISyncWork
    {
        private readonly List<DateTimeOffset> _runs = [];
        private int _cancelled;

        public IReadOnlyList<DateTimeOffset> Runs
        {
            get
            {
                lock (_runs)
                {
                    return [.. _runs];
                }
            }
        }

        public int Cancelled => Volatile.Read(ref _cancelled);

        public volatile bool BlockUntilCancelled;

        public volatile Exception? Failure;

        public volatile bool BrokenConfiguration;

        public bool IsConfigured(RegistrySettings settings) =>
            BrokenConfiguration ? throw new InvalidOperationException("broken") : settings.Parent is not null;

        public async Task RunAsync(RegistrySettings settings, CancellationToken cancellationToken)
        {
            lock (_runs)
            {
                _runs.Add(time.GetUtcNow());
            }

            if (Failure is { } failure)
            {
                throw failure;
            }

            if (BlockUntilCancelled)
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    Interlocked.Increment(ref _cancelled);
                    throw;
                }
            }
        }
    }
}
