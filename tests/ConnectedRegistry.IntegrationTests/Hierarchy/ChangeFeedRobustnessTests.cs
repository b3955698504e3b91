using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using ConnectedRegistry.Core;
using ConnectedRegistry.Hierarchy;
using ConnectedRegistry.Sync;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.IntegrationTests.Sync;
using Microsoft.Extensions.DependencyInjection;
using static ConnectedRegistry.IntegrationTests.Infrastructure.HierarchyHarness;

namespace ConnectedRegistry.IntegrationTests.Hierarchy;

/// <summary>The child's change feed follower against a parent whose feed answers a malformed body.</summary>
public sealed class ChangeFeedRobustnessTests
{
    private const string Child = "edge-cell-9";
    private const string ChildPassword = "cell-9-sync-Passw0rd";

    /// <summary>Answers the first <paramref name="count"/> feed polls with a cursor (since) with a 200 body that is JSON but not the feed's shape.</summary>
    private sealed class MalformedFeed(int count, string body) : IStartupFilter
    {
        private int _served;

        public int Served => Volatile.Read(ref _served);

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, following) =>
            {
                if (context.Request.Path == ConnectedRegistry.Hierarchy.HierarchyEndpoints.Prefix + "/changes"
                    && long.TryParse(context.Request.Query["since"], out var since) && since >= 0
                    && Interlocked.Increment(ref _served) <= count)
                {
                    context.Response.ContentType = "application/json";
                    await context.Response.WriteAsync(body);
                    return;
                }

                await following(context);
            });
            next(app);
        };
    }

    [Theory]
    [InlineData("{\"last\":\"not-a-number\",\"changes\":[]}")]
    [InlineData("{\"last\":1,\"truncated\":{},\"changes\":[]}")]
    [InlineData("{\"last\":1,\"changes\":[1,2]}")]
    public async Task A_malformed_feed_answer_is_retried_and_the_follower_keeps_following(string body)
    {
        var malformed = new MalformedFeed(2, body);
        await using var parent = await RegistryInstance.StartAsync(configure: builder =>
        {
            builder.Services.AddSingleton(SyncHarness.FastOptions);
            builder.Services.AddSingleton(Fast);
            builder.Services.AddSingleton<IStartupFilter>(malformed);
        });

        // Only the change feed can bring content before the child's next scheduled pass (ten minutes).
        await using var child = await StartAsync(
            syncPassword: ChildPassword,
            scheduler: new SyncSchedulerOptions { IdleDelay = TimeSpan.FromMinutes(10), RetryDelay = TimeSpan.FromMinutes(10) },
            options: new HierarchyOptions { FeedRetryDelay = TimeSpan.FromMilliseconds(200), FeedWaitSeconds = 5 });
        var lifetime = child.App.Services.GetRequiredService<IHostApplicationLifetime>();
        var layout = TempDirectory.Create("layout");
        try
        {
            parent.Apply(ParentSettings("edge-line-9", new Dictionary<string, ChildRegistrySettings>
            {
                [Child] = new() { Mode = RegistryMode.ReadOnly, SyncTokenPasswordHash = Hash(ChildPassword), Repositories = ["apps/*"] },
            }));
            var builder = new OciLayoutBuilder(layout);
            builder.SimpleImage("img", layerCount: 1);
            await PushAsync(parent, layout, "img", "apps/web", "v1");
            child.Apply(ChildSettings(Child, parent.BaseAddress, ["apps/*"]));
            await Poll.UntilAsync(() => child.Store().GetManifest("apps/web", "v1") is not null && child.State().Sync.LastSyncTime is not null, "the first pass");
            await Poll.UntilAsync(() => malformed.Served > 2, "the follower polls again after the malformed answers");

            await PushAsync(parent, layout, "img", "apps/later", "v1");
            await Poll.UntilAsync(() => child.Store().GetManifest("apps/later", "v1") is not null, "the change reaches the child through the feed", TimeSpan.FromSeconds(15));
            Assert.False(lifetime.ApplicationStopping.IsCancellationRequested, "the child must keep running");
        }
        finally
        {
            TempDirectory.Delete(layout);
            parent.DeleteData();
            child.DeleteData();
        }
    }
}
