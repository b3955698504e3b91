using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using ConnectedRegistry.Core;
using ConnectedRegistry.Hierarchy;
using ConnectedRegistry.Sync;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.IntegrationTests.Sync;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static ConnectedRegistry.IntegrationTests.Infrastructure.HierarchyHarness;

namespace ConnectedRegistry.IntegrationTests.Hierarchy;

/// <summary>
/// The child's change feed follower against a parent (this module) whose feed answers what no parent should: an
/// answer of 200 MB, and repository names with a newline and an escape sequence.
/// </summary>
public sealed class ChangeFeedBoundsTests(ITestOutputHelper output)
{
    private const string Child = "edge-cell-7";
    private const string ChildPassword = "cell-7-sync-Passw0rd";

    /// <summary>Answers the feed polls with a cursor (since ≥ 0) with the test's own answer; counts them.</summary>
    private sealed class ForgedFeed(Func<HttpContext, ForgedFeed, Task> answer) : IStartupFilter
    {
        private int _served;

        public int Served => Volatile.Read(ref _served);

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, following) =>
            {
                if (context.Request.Path == HierarchyEndpoints.Prefix + "/changes"
                    && long.TryParse(context.Request.Query["since"], out var since) && since >= 0)
                {
                    Interlocked.Increment(ref _served);
                    await answer(context, this);
                    return;
                }

                await following(context);
            });
            next(app);
        };
    }

    [Fact]
    public async Task A_feed_answer_over_the_limit_is_refused_after_reading_at_most_the_limit_and_the_follower_falls_back_to_its_schedule()
    {
        const long answerBytes = 200_000_000;
        var feed = new ForgedFeed(async (context, _) =>
        {
            // 200 MB of well-formed changes, chunked (no Content-Length to refuse it by), as fast as the child reads.
            context.Response.ContentType = "application/json";
            var entry = Encoding.UTF8.GetBytes($"{{\"sequence\":1,\"repository\":\"apps/web\",\"tag\":\"v1\",\"digest\":\"sha256:{new string('a', 64)}\",\"operation\":\"push\",\"time\":\"2024-01-01T00:00:00Z\"}},");
            var chunk = new byte[entry.Length * (64 * 1024 / entry.Length)];
            for (var i = 0; i < chunk.Length; i += entry.Length)
            {
                entry.CopyTo(chunk, i);
            }

            try
            {
                var body = context.Response.BodyWriter;
                var head = Encoding.UTF8.GetBytes("{\"last\":1,\"truncated\":false,\"more\":false,\"changes\":[");
                await body.WriteAsync(head, context.RequestAborted);
                for (long sent = head.Length; sent < answerBytes && !context.RequestAborted.IsCancellationRequested; sent += chunk.Length)
                {
                    var flushed = await body.WriteAsync(chunk, context.RequestAborted);
                    if (flushed.IsCompleted || flushed.IsCanceled)
                    {
                        return; // the child hung up
                    }
                }

                await body.WriteAsync(Encoding.UTF8.GetBytes("{}]}"), context.RequestAborted);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
            {
                // the child hung up
            }
        });

        var logs = new LogCapture();
        await using var parent = await StartParentAsync(feed);
        await using var link = LinkEmulator.Start(parent.BaseAddress); // counts what the child really read
        await using var child = await StartAsync(
            syncPassword: ChildPassword,
            scheduler: new SyncSchedulerOptions { IdleDelay = TimeSpan.FromMinutes(10), RetryDelay = TimeSpan.FromMinutes(10) },
            options: new HierarchyOptions { FeedRetryDelay = TimeSpan.FromMilliseconds(200), FeedWaitSeconds = 5 },
            configure: builder => builder.Logging.AddProvider(logs));
        try
        {
            var allocated = GC.GetTotalAllocatedBytes();
            child.Apply(ChildSettings(Child, link.AddressFor(parent.BaseAddress), ["apps/*"]));
            await Poll.UntilAsync(() => child.State().HasDetail("ChangeFeedRefused", "Warning"), "the answer over the limit refused, with its status detail", TimeSpan.FromSeconds(60));
            output.WriteLine($"the link carried {link.BytesFromParent / 1e6:0.0} MB from the parent (its feed answer: {answerBytes / 1e6:0} MB); " +
                $"{(GC.GetTotalAllocatedBytes() - allocated) / 1e6:0} MB allocated in this process meanwhile; test process {PeakResident()}");

            Assert.True(link.BytesFromParent < 16 * 1024 * 1024, $"the child read {link.BytesFromParent} bytes from the parent");
            Assert.Contains(logs.Lines, l => l.Contains("change feed answer is over 4194304 bytes", StringComparison.Ordinal));

            // The follower leaves the work to the schedule for a while, instead of asking again at once.
            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.Equal(1, feed.Served);
            Assert.Equal(0, child.App.Services.GetRequiredService<ChangeFeedFollower>().ChangesSeen);
        }
        finally
        {
            parent.DeleteData();
            child.DeleteData();
        }
    }

    [Fact]
    public async Task Feed_entries_with_invalid_repository_names_start_no_pass_and_are_logged_escaped()
    {
        const string forged = "apps/evil\nwarn: FORGED[1] all good\u001b[2J";
        var feed = new ForgedFeed(async (context, self) =>
        {
            if (self.Served > 1)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), context.RequestAborted); // a long poll with nothing new
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync("{\"last\":1,\"changes\":[]}");
                return;
            }

            context.Response.ContentType = "application/json";
            var changes = new Newtonsoft.Json.Linq.JArray(
                new Newtonsoft.Json.Linq.JObject { ["sequence"] = 1, ["repository"] = forged, ["tag"] = "v1", ["operation"] = "push" },
                new Newtonsoft.Json.Linq.JObject { ["sequence"] = 1, ["repository"] = "apps/Upper", ["tag"] = "v1", ["operation"] = "push" },
                new Newtonsoft.Json.Linq.JObject { ["sequence"] = 1, ["repository"] = "apps/web", ["tag"] = "v1", ["operation"] = "push" });
            await context.Response.WriteAsync(new Newtonsoft.Json.Linq.JObject { ["last"] = 1, ["truncated"] = false, ["more"] = false, ["changes"] = changes }.ToString());
        });

        var logs = new LogCapture();
        await using var parent = await StartParentAsync(feed);
        await using var child = await StartAsync(
            syncPassword: ChildPassword,
            scheduler: new SyncSchedulerOptions { IdleDelay = TimeSpan.FromMinutes(10), RetryDelay = TimeSpan.FromMinutes(10) },
            options: new HierarchyOptions { FeedRetryDelay = TimeSpan.FromMilliseconds(200), FeedWaitSeconds = 1 },
            configure: builder =>
            {
                builder.Logging.AddProvider(logs);
                builder.Logging.AddFilter("ConnectedRegistry", LogLevel.Information);
            });
        try
        {
            child.Apply(ChildSettings(Child, parent.BaseAddress, ["apps/*"]));
            var follower = child.App.Services.GetRequiredService<ChangeFeedFollower>();
            await Poll.UntilAsync(() => feed.Served >= 2, "the forged answer read and the next poll made", TimeSpan.FromSeconds(30));

            Assert.Equal(1, follower.ChangesSeen); // apps/web only: no pass for the names outside the OCI grammar
            Assert.Equal(2, follower.InvalidEntries);
            var lines = logs.Lines.ToList();
            Assert.DoesNotContain(lines, l => l.Contains("evil\n", StringComparison.Ordinal) || l.Contains('\u001b', StringComparison.Ordinal));
            Assert.Contains(lines, l => l.Contains(@"apps/evil\nwarn: FORGED[1] all good\u001b[2J", StringComparison.Ordinal));
        }
        finally
        {
            parent.DeleteData();
            child.DeleteData();
        }
    }

    /// <summary>A parent (this module) with the child registered and the feed answered by <paramref name="feed"/>.</summary>
    private static async Task<RegistryInstance> StartParentAsync(ForgedFeed feed)
    {
        var parent = await RegistryInstance.StartAsync(configure: builder =>
        {
            builder.Services.AddSingleton(SyncHarness.FastOptions);
            builder.Services.AddSingleton(Fast);
            builder.Services.AddSingleton<IStartupFilter>(feed);
        });
        parent.Apply(ParentSettings("edge-line-7", new Dictionary<string, ChildRegistrySettings>
        {
            [Child] = new() { Mode = RegistryMode.ReadOnly, SyncTokenPasswordHash = Hash(ChildPassword), Repositories = ["apps/*"] },
        }));
        return parent;
    }

    /// <summary>The test process's peak resident memory (VmHWM) and what it holds now (VmRSS).</summary>
    private static string PeakResident()
    {
        var status = File.ReadAllLines("/proc/self/status");
        return string.Join(", ", status.Where(l => l.StartsWith("VmHWM", StringComparison.Ordinal) || l.StartsWith("VmRSS", StringComparison.Ordinal)).Select(l => string.Join(' ', l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))));
    }
}
