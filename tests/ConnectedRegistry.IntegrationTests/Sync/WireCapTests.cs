using System.Globalization;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// <c>sync.bandwidth</c> as the parent's TCP sees it: the link in front of a docker-registry parent counts the bytes it
/// writes into the module's sockets (its own send buffers stay a few KiB, so it absorbs no burst), and every 1-second
/// window of that must stay within 1.1× the cap and every 5-second window within 1.05×, from the first byte of the
/// pass. What the module reads is no measure: the kernel's receive buffer takes a burst at full speed and the module
/// then reads it at the cap (the link saw 32 Mbit/s for 2 s, then nothing for 15 s, under a 4 Mbit/s cap).
/// </summary>
public sealed class WireCapTests
{
    private const double Mbit = 1_000_000;
    private const double Cap = 8 * Mbit;

    [Fact]
    public async Task A_cap_in_the_first_document_holds_on_the_wire_in_every_1_and_5_second_window()
    {
        await using var h = await ThinLinkHarness.StartAsync();
        var layers = Enumerable.Range(0, 3).Select(_ => h.Layout.Layer(2_000_000)).ToArray(); // parallel blobs share the cap
        var image = await h.PushAsync("wire/first", layers);
        await h.DesireAsync(["wire/first"], new JObject { ["limitMbps"] = Cap / Mbit });

        await h.StartChildAsync();
        await Poll.UntilAsync(() => h.HasTag("wire/first", image), "the image synced", TimeSpan.FromSeconds(30));

        AssertCapHeld(h.Link, TimeSpan.Zero, layers.Sum(l => l.Size));
    }

    [Fact]
    public async Task A_cap_set_by_a_later_patch_holds_on_the_wire_on_connections_opened_before_it()
    {
        await using var h = await ThinLinkHarness.StartAsync();
        var warm = await h.PushAsync("wire/warm", h.Layout.Layer(4_000_000));
        await h.DesireAsync(["wire/warm"]);
        await h.StartChildAsync();

        // Uncapped, the kernel grew the pooled connections' receive buffers to megabytes; they stay in the pool.
        await Poll.UntilAsync(() => h.HasTag("wire/warm", warm), "the first image synced uncapped", TimeSpan.FromSeconds(30));
        var layers = Enumerable.Range(0, 3).Select(_ => h.Layout.Layer(2_000_000)).ToArray();
        var image = await h.PushAsync("wire/later", layers);
        await Task.Delay(TimeSpan.FromSeconds(1));
        var from = h.Link.Elapsed;
        await h.DesireAsync(["wire/warm", "wire/later"], new JObject { ["limitMbps"] = Cap / Mbit });
        await Poll.UntilAsync(() => h.HasTag("wire/later", image), "the second image synced capped", TimeSpan.FromSeconds(30));

        AssertCapHeld(h.Link, from, layers.Sum(l => l.Size));
    }

    private static void AssertCapHeld(LinkEmulator link, TimeSpan from, long unique)
    {
        var carried = link.Samples.Last().Bytes - link.Samples.First(s => s.At >= from).Bytes;
        Assert.True(carried >= unique, $"the link carried {carried} bytes of the {unique} bytes of blobs");
        var second = link.MaxWindowBitsPerSecond(TimeSpan.FromSeconds(1), from) / Cap;
        var five = link.MaxWindowBitsPerSecond(TimeSpan.FromSeconds(5), from) / Cap;
        var detail = $"worst 1-s window {second:0.00}× the cap, worst 5-s window {five:0.00}×; Mbit/s per second: {PerSecond(link, from)}";
        Assert.True(second <= 1.1, detail);
        Assert.True(five <= 1.05, detail);
    }

    private static string PerSecond(LinkEmulator link, TimeSpan from)
    {
        var samples = link.Samples.Where(s => s.At >= from).Where((_, i) => i % 10 == 0).ToList();
        return string.Join(" ", samples.Zip(samples.Skip(1), (a, b) => ((b.Bytes - a.Bytes) * 8 / (b.At - a.At).TotalSeconds / Mbit).ToString("0.0", CultureInfo.InvariantCulture)));
    }
}
