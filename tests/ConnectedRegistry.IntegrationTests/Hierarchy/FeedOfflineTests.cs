using System.Diagnostics;
using Xunit.Abstractions;
using ConnectedRegistry.Core;
using ConnectedRegistry.Hierarchy;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Sync;
using static ConnectedRegistry.IntegrationTests.Infrastructure.HierarchyHarness;

namespace ConnectedRegistry.IntegrationTests.Hierarchy;

/// <summary>A child under a parent module: the change feed, not the next sync pass, notices a parent that stopped.</summary>
public sealed class FeedOfflineTests(ITestOutputHelper output)
{
    private const string Child = "edge-cell-9";
    private const string ChildPassword = "cell-9-sync-Passw0rd";

    [Fact]
    public async Task A_child_is_Offline_within_twice_the_feed_poll_after_its_parent_stopped()
    {
        var poll = TimeSpan.FromSeconds(1);
        var parent = await StartAsync();
        // The scheduler idles 10 minutes between passes: only the feed can notice the parent within the test.
        var child = await StartAsync(syncPassword: ChildPassword, edge: new EdgeInstance("device-9", "registry", null),
            scheduler: new SyncSchedulerOptions { IdleDelay = TimeSpan.FromMinutes(10), RetryDelay = TimeSpan.FromMinutes(10) },
            options: new HierarchyOptions { FeedWaitSeconds = (int)poll.TotalSeconds, FeedRetryDelay = TimeSpan.FromMilliseconds(200) });
        try
        {
            parent.Apply(ParentSettings("edge-line-9", new Dictionary<string, ChildRegistrySettings>
            {
                [Child] = new() { SyncTokenPasswordHash = Hash(ChildPassword), Repositories = ["apps/*"] },
            }));
            child.Apply(ChildSettings(Child, parent.BaseAddress, ["apps/*"]));
            await Poll.UntilAsync(() => child.State() is { ActivationState: ActivationStates.Active, ConnectionState: ConnectionStates.Online } && child.Activation().ActiveAtParent,
                "the child is Active at its parent and Online");
            await Task.Delay(poll * 2); // the feed is in its long poll

            var stopped = Stopwatch.StartNew(); // from the stop's first moment: the parent closes its connections while it stops
            await parent.DisposeAsync();
            await Poll.UntilAsync(() => child.State().ConnectionState == ConnectionStates.Offline, "the child reports Offline", TimeSpan.FromSeconds(30));
            var took = stopped.Elapsed;
            output.WriteLine($"Offline {took.TotalMilliseconds:0} ms after the parent stopped (feed poll {poll.TotalMilliseconds:0} ms)");
            Assert.True(took <= poll * 2, $"Offline {took.TotalMilliseconds:0} ms after the parent stopped; the feed polls every {poll.TotalMilliseconds:0} ms");
            Assert.Equal(ActivationStates.Active, child.State().ActivationState); // unreachable, not deactivated
        }
        finally
        {
            await child.DisposeAsync();
            await parent.DisposeAsync();
        }
    }
}
