using System.Diagnostics;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Sync;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// A path to the parent that dies silently (no reset: a NAT or VPN dropping its state) fails the request in seconds,
/// by TCP keepalive and the limit on unacknowledged bytes, instead of holding it for the kernel's quarter of an hour
/// (or forever, when nothing is unacknowledged). Each case is run once without the settings too, and that request must
/// still be waiting: the settings, not something else, end it.
/// </summary>
public sealed class DeadPathTests
{
    private static readonly ParentClientOptions Detecting = ParentClients.FastOptions with
    {
        MaxRetries = 0,
        KeepAliveIdle = TimeSpan.FromSeconds(1),
        KeepAliveInterval = TimeSpan.FromSeconds(1),
        KeepAliveProbes = 2,
        UnacknowledgedTimeout = TimeSpan.FromSeconds(3),
    };

    private static readonly ParentClientOptions Blind = Detecting with
    {
        KeepAliveIdle = TimeSpan.FromHours(9),
        UnacknowledgedTimeout = TimeSpan.Zero,
    };

    /// <summary>Long enough for the detecting settings (3 s), far too short for the kernel's own retransmission limit.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static readonly TimeSpan StillWaitingAfter = TimeSpan.FromSeconds(8);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_request_sent_into_a_dead_path_fails_within_seconds(bool detecting)
    {
        await using var parent = await FakeHttpServer.StartAsync(context =>
        {
            context.Response.StatusCode = 200;
            return context.Response.WriteAsync("""{"repositories":["app"]}""");
        });
        using var client = ParentClients.Client(parent.Address, null, detecting ? Detecting : Blind);
        await client.PingAsync(default); // a pooled connection the next request takes

        await using var hole = await PathBlackHole.DropAsync(parent.Address.Port);
        var clock = Stopwatch.StartNew();
        var request = client.CatalogAsync(default);

        await AssertEndsAsync(request, detecting, clock);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_request_waiting_for_an_answer_when_the_path_dies_fails_within_seconds(bool detecting)
    {
        // The request reached the parent and was acknowledged; the parent takes its time (as a parent fetching on demand
        // does); then the path dies. Nothing is unacknowledged: only keepalive can tell.
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var answer = new CancellationTokenSource(); // the parent's wait ends with the test (its connection is gone unseen)
        await using var parent = await FakeHttpServer.StartAsync(async context =>
        {
            if (context.Request.Path.StartsWithSegments("/v2/_catalog"))
            {
                received.TrySetResult();
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, answer.Token);
                await Task.Delay(Timeout.Infinite, wait.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                return;
            }

            context.Response.StatusCode = 200;
            await context.Response.WriteAsync("{}");
        });
        using var client = ParentClients.Client(parent.Address, null, detecting ? Detecting : Blind);
        await client.PingAsync(default);
        var request = client.CatalogAsync(default);
        await received.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(200); // the request's last segment acknowledged

        await using var hole = await PathBlackHole.DropAsync(parent.Address.Port);
        var clock = Stopwatch.StartNew();

        await AssertEndsAsync(request, detecting, clock);
        await answer.CancelAsync();
    }

    private static async Task AssertEndsAsync(Task request, bool detecting, Stopwatch clock)
    {
        if (!detecting)
        {
            var first = await Task.WhenAny(request, Task.Delay(StillWaitingAfter));
            Assert.NotSame(request, first); // without the settings the request is still waiting: the kernel alone does not tell
            return; // the client's disposal ends it
        }

        var done = await Task.WhenAny(request, Task.Delay(Patience));
        Assert.Same(request, done);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => request);
        Assert.True(error is ParentRegistryException or HttpRequestException or IOException, error.ToString());
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1), Patience);
    }
}
