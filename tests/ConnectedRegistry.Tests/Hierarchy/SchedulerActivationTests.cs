using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;
using ConnectedRegistry.Tests.Sync;

namespace ConnectedRegistry.Tests.Hierarchy;

/// <summary>What the hierarchy asks of the scheduler: targeted passes for the change feed, and no sync while activation is refused.</summary>
public sealed class SchedulerActivationTests : SchedulerTestBase
{
    private readonly Work _work = new();

    private async Task StartAsync(SyncSettings sync)
    {
        await StartSchedulerAsync(new RegistrySettings
        {
            Name = "edge-one",
            Parent = new ParentSettings { Endpoint = new Uri("http://parent.invalid") },
            Sync = sync with { Repositories = ["apps/*", "base"] },
            Children = new Dictionary<string, ChildRegistrySettings> { ["edge-child"] = new() { SyncTokenPasswordHash = "x", Repositories = ["tools/*"] } },
        }, _work, new SyncSchedulerOptions { IdleDelay = TimeSpan.FromMinutes(10), RetryDelay = TimeSpan.FromMinutes(10) });
    }

    [Fact]
    public async Task Changed_repositories_get_a_pass_of_their_own_at_once_and_the_full_pass_keeps_its_pace()
    {
        await StartAsync(new SyncSettings());
        await Poll.UntilAsync(() => _work.Passes.Count == 1 && _scheduler.Waits >= 1, "the first full pass");
        Assert.Equal("apps/*,base+edge-child", _work.Passes[0]);

        _scheduler.SyncRepositoriesNow(["apps/web", "apps/api", "apps/web"]);
        await Poll.UntilAsync(() => _work.Passes.Count >= 2, "the targeted pass");
        await Poll.UntilAsync(() => _scheduler.Waits >= 2, "the idle wait");
        Assert.Equal("apps/api,apps/web", _work.Passes[1]);
        Assert.Equal(2, _work.Passes.Count);

        _time.Advance(TimeSpan.FromMinutes(10));
        await Poll.UntilAsync(() => _work.Passes.Count == 3, "the next full pass");
        Assert.Equal("apps/*,base+edge-child", _work.Passes[2]);
    }

    [Fact]
    public async Task Outside_the_window_changes_wait_for_the_next_windows_full_pass()
    {
        await StartAsync(new SyncSettings { Schedule = "0 1 * * *", Window = TimeSpan.FromHours(1) }); // 01:00–02:00; now 00:10
        await Poll.UntilAsync(() => _scheduler.Waits >= 1, "the wait for the window");
        _scheduler.SyncRepositoriesNow(["apps/web"]);
        await Poll.UntilAsync(() => _scheduler.Waits >= 2, "the wait after the wake");
        Assert.Empty(_work.Passes);

        _time.Advance(TimeSpan.FromMinutes(50));
        await Poll.UntilAsync(() => _work.Passes.Count == 1, "the window's pass");
        Assert.Equal("apps/*,base+edge-child", _work.Passes[0]);
    }

    [Fact]
    public async Task A_refused_activation_reports_Unhealthy_and_a_deactivated_registry_Offline()
    {
        _work.Failure = new ActivationRefusedException("the identity is active on another instance", deactivated: false);
        await StartAsync(new SyncSettings());
        await Poll.UntilAsync(() => _scheduler.Waits >= 1, "the refused pass");
        Assert.Equal(ConnectionStates.Unhealthy, _state.Snapshot().ConnectionState);
        Assert.Equal("the identity is active on another instance", _state.Snapshot().Sync.LastError);
        Assert.Null(_state.Snapshot().Sync.LastSyncTime);

        _work.Failure = new ActivationRefusedException("deactivated", deactivated: true);
        _time.Advance(TimeSpan.FromMinutes(10));
        await Poll.UntilAsync(() => _scheduler.Waits >= 2 && _state.Snapshot().ConnectionState == ConnectionStates.Offline, "the deactivated pass");

        _work.Failure = null;
        _scheduler.SyncNow();
        await Poll.UntilAsync(() => _state.Snapshot().ConnectionState == ConnectionStates.Online, "the pass after activation");
        Assert.Null(_state.Snapshot().Sync.LastError);
    }

    /// <summary>Records each pass as "repositories+children".</summary>
    private sealed class Work : ISyncWork
    {
        private readonly List<string> _passes = [];

        public volatile Exception? Failure;

        public IReadOnlyList<string> Passes
        {
            get
            {
                lock (_passes)
                {
                    return [.. _passes];
                }
            }
        }

        public bool IsConfigured(RegistrySettings settings) => settings.Parent is not null;

        public Task RunAsync(RegistrySettings settings, CancellationToken cancellationToken)
        {
            if (Failure is { } failure)
            {
                throw failure;
            }

            lock (_passes)
            {
                var children = string.Join(",", settings.Children.Keys);
                _passes.Add(string.Join(",", settings.Sync.Repositories) + (children.Length > 0 ? "+" + children : string.Empty));
            }

            return Task.CompletedTask;
        }
    }
}
