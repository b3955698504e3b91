using System.Collections.Concurrent;
using System.Diagnostics;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Sync;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Polly.CircuitBreaker;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// The parent client's default resilience over a link that drops (a real Kestrel parent behind the link emulator, which
/// resets every connection and refuses new ones while it is down): the link is probed often, so the first request
/// after the link comes back starts within a probe delay, and the probes do not open the circuit breaker, which still
/// opens for a parent that is really gone.
/// </summary>
public sealed class LinkRecoveryTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task A_request_during_a_drop_reaches_the_parent_within_a_probe_delay_of_the_link_coming_back()
    {
        var arrivals = new ConcurrentQueue<TimeSpan>();
        var clock = Stopwatch.StartNew();
        await using var parent = await FakeHttpServer.StartAsync(async context =>
        {
            arrivals.Enqueue(clock.Elapsed);
            await context.Response.WriteAsync("""{"name":"app","tags":["v1"]}""");
        });
        await using var link = LinkEmulator.Start(parent.Address);
        var options = new ParentClientOptions(); // the module's defaults
        using var client = new ParentRegistryClient(link.AddressFor(parent.Address), null, options, TimeProvider.System, NullLogger.Instance);
        for (var call = 0; call < 3; call++)
        {
            Assert.Equal(["v1"], await client.ListTagsAsync("app", default)); // what a pass asks before its blobs
        }

        var lags = new List<double>();
        var refusedInAll = 0;
        for (var drop = 0; drop < 3; drop++)
        {
            var refusedBefore = link.RefusedConnections;
            var down = TimeSpan.FromSeconds(2);
            link.GoDown(down);
            var back = clock.Elapsed + down;
            var before = arrivals.Count;

            // Four requests at once, as four blob downloads resume after a drop: every one succeeds once the link is back.
            var tags = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.ListTagsAsync("app", default)));
            Assert.All(tags, t => Assert.Equal(["v1"], t));
            var first = arrivals.Skip(before).Min();
            lags.Add((first - back).TotalSeconds);

            var refused = link.RefusedConnections - refusedBefore;
            refusedInAll += refused;
            output.WriteLine($"drop {drop}: first request {(first - back).TotalSeconds:0.000} s after the link came back; {refused} refused connections");
        }

        // Probed every 125-250 ms by each of the four: 8 to 16 refused connections each per drop, 96 to 192 in all (23 to
        // 41 per drop seen on a loaded machine); with probes every 0.5-1 s at most 5 each, 60 in all (about 40 seen).
        Assert.True(refusedInAll > 60, $"{refusedInAll} refused connections in 3 drops of 2 s");

        // The first request after the link came back started within a probe delay (250 ms), plus the scheduler's slack on a
        // loaded machine (the median of three drops); with probes every 0.5-1 s it started 0.2-0.6 s late.
        lags.Sort();
        Assert.True(lags[1] < 0.35, string.Join(", ", lags));
    }

    [Fact]
    public async Task A_parent_that_is_really_gone_still_opens_the_circuit_with_the_default_options()
    {
        var port = DockerRegistry.FreePort(); // nothing listens there
        using var client = new ParentRegistryClient(new Uri($"http://127.0.0.1:{port}/"), null, new ParentClientOptions(), TimeProvider.System, NullLogger.Instance);

        // Each call probes for a while and fails; within a few calls the breaker opens and calls fail at once.
        var clock = Stopwatch.StartNew();
        for (var call = 0; call < 3; call++)
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(() => client.PingAsync(default));
            if (error is BrokenCircuitException)
            {
                break;
            }
        }

        output.WriteLine($"the circuit opened after {clock.Elapsed.TotalSeconds:0.0} s");
        var started = Stopwatch.StartNew();
        await Assert.ThrowsAsync<BrokenCircuitException>(() => client.PingAsync(default));
        Assert.True(started.Elapsed < TimeSpan.FromMilliseconds(500), $"an open circuit took {started.Elapsed.TotalMilliseconds} ms to fail a call");
    }
}
