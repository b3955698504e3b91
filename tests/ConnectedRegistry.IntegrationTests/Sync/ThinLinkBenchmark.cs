using System.Globalization;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// The thin-link benchmark (<c>bench/thin-link.sh</c>): sync down over dropping links (<see cref="DroppingLink"/>) at a size the test suite cannot
/// afford, and sync up of a 64 MiB layer over the dropping link to both kinds of parent. Marked
/// <c>Category=Benchmark</c>, which <c>scripts/test.sh</c> leaves out; each scenario writes one JSON line of figures
/// to <c>THINLINK_BENCH_OUT</c> when that is set.
/// </summary>
public sealed class ThinLinkBenchmark
{
    /// <summary>Issue 9 item 6's link: 20 Mbit/s, 300 ms one way, a reset after each 20 MB, 3 s down.</summary>
    private static readonly LinkProfile Satellite = new(20_000_000, TimeSpan.FromMilliseconds(300), 20_000_000, TimeSpan.FromSeconds(3));

    [Fact]
    [Trait("Category", "Benchmark")]
    public async Task Sync_down_over_a_link_that_drops_every_8_MB()
    {
        var result = await DroppingLink.RunAsync(Layers, LayerMb * 1_000_000);
        await WriteAsync("down-drop-8MB", DroppingLink.EveryEightMegabytes, result);
        Assert.True(result.Drops > 0, result.ToString()); // the link really dropped: the figures are about a dropping link
    }

    [Fact]
    [Trait("Category", "Benchmark")]
    public async Task Sync_down_over_a_satellite_link_that_drops_every_20_MB()
    {
        var result = await DroppingLink.RunAsync(Layers, LayerMb * 1_000_000, Satellite);
        await WriteAsync("down-satellite-drop-20MB", Satellite, result);
        Assert.True(result.Drops > 0, result.ToString());
    }

    /// <summary>
    /// Issue 21's faster dropping link: 40 Mbit/s, 100 ms one way, a reset after each 8 MB, 2 s down, about 50 MB of
    /// content (6 layers of 8 MB unless BENCH_LAYERS says otherwise).
    /// </summary>
    private static readonly LinkProfile FastDropping = new(40_000_000, TimeSpan.FromMilliseconds(100), 8_000_000, TimeSpan.FromSeconds(2));

    [Fact]
    [Trait("Category", "Benchmark")]
    public async Task Sync_down_over_a_100_ms_link_that_drops_every_8_MB_for_2_s()
    {
        var layers = int.Parse(Environment.GetEnvironmentVariable("BENCH_LAYERS") ?? "6", CultureInfo.InvariantCulture);
        var result = await DroppingLink.RunAsync(layers, LayerMb * 1_000_000, FastDropping);
        await WriteAsync("down-100ms-drop-8MB", FastDropping, result);
        Assert.True(result.Drops > 0, result.ToString());
    }

    [Fact]
    [Trait("Category", "Benchmark")]
    public async Task Sync_up_of_64_MiB_over_a_link_that_drops_every_8_MB_to_this_module() =>
        await SyncUpAsync(moduleParent: true);

    [Fact]
    [Trait("Category", "Benchmark")]
    public async Task Sync_up_of_64_MiB_over_a_link_that_drops_every_8_MB_to_docker_registry() =>
        await SyncUpAsync(moduleParent: false);

    private static int Layers => int.Parse(Environment.GetEnvironmentVariable("BENCH_LAYERS") ?? "19", CultureInfo.InvariantCulture);

    private static int LayerMb => int.Parse(Environment.GetEnvironmentVariable("BENCH_LAYER_MB") ?? "8", CultureInfo.InvariantCulture);

    private static async Task SyncUpAsync(bool moduleParent)
    {
        // docker-registry loses the session at every drop: it is given the time this module needs four times over.
        var result = await SyncUpLinkHarness.MeasureOverDroppingLinkAsync(moduleParent, giveUpAfter: TimeSpan.FromSeconds(moduleParent ? 300 : 120));
        var link = SyncUpLinkHarness.DroppingLink;
        await WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $$"""{"scenario": "up-drop-8MB", "parent": "{{result.Parent}}", "blobBytes": {{result.BlobBytes}}, "bytesToParent": {{result.BytesToParent}}, "bytesRatio": {{result.BytesRatio:0.0000}}, "completed": {{(result.Completed ? "true" : "false")}}, "drops": {{result.Drops}}, "seconds": {{result.Seconds:0.00}}, {{Describe(link)}}}"""));
        Assert.True(result.Drops > 0, result.ToString());
    }

    private static Task WriteAsync(string scenario, LinkProfile link, DroppingLinkResult result) =>
        WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $$"""{"scenario": "{{scenario}}", "uniqueBytes": {{result.UniqueBytes}}, "bytesFromParent": {{result.BytesFromParent}}, "bytesBothWays": {{result.TotalBytes}}, "bytesRatio": {{result.BytesRatio:0.0000}}, "drops": {{result.Drops}}, "seconds": {{result.Seconds:0.00}}, "floorSeconds": {{result.FloorSeconds:0.00}}, "timeRatio": {{result.TimeRatio:0.000}}, {{Describe(link)}}}"""));

    private static string Describe(LinkProfile link) => string.Create(CultureInfo.InvariantCulture,
        $"\"rateMbps\": {link.RateBitsPerSecond / 1e6}, \"latencyMs\": {link.Latency.TotalMilliseconds}, \"dropEveryBytes\": {link.DropEveryBytes}, \"downSeconds\": {link.DownTime.TotalSeconds}");

    private static async Task WriteLineAsync(string line)
    {
        if (Environment.GetEnvironmentVariable("THINLINK_BENCH_OUT") is { Length: > 0 } output)
        {
            await File.AppendAllTextAsync(output, line + Environment.NewLine);
        }
    }
}
