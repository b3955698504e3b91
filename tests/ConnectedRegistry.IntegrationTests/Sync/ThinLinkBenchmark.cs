using System.Globalization;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// The thin-link benchmark (<c>bench/thin-link.sh</c>): sync down over the dropping link of <see cref="DroppingLink"/>,
/// at a size the test suite cannot afford. Marked <c>Category=Benchmark</c>, which <c>scripts/test.sh</c> leaves out;
/// writes one JSON line of figures to <c>THINLINK_BENCH_OUT</c> when that is set.
/// </summary>
public sealed class ThinLinkBenchmark
{
    [Fact]
    [Trait("Category", "Benchmark")]
    public async Task Sync_down_over_a_link_that_drops_every_8_MB()
    {
        var layers = int.Parse(Environment.GetEnvironmentVariable("BENCH_LAYERS") ?? "19", CultureInfo.InvariantCulture);
        var layerMb = int.Parse(Environment.GetEnvironmentVariable("BENCH_LAYER_MB") ?? "8", CultureInfo.InvariantCulture);
        var result = await DroppingLink.RunAsync(layers, layerMb * 1_000_000);

        var line = string.Create(CultureInfo.InvariantCulture,
            $$"""{"uniqueBytes": {{result.UniqueBytes}}, "bytesFromParent": {{result.BytesFromParent}}, "bytesBothWays": {{result.TotalBytes}}, "bytesRatio": {{result.BytesRatio:0.0000}}, "drops": {{result.Drops}}, "seconds": {{result.Seconds:0.00}}, "floorSeconds": {{result.FloorSeconds:0.00}}, "timeRatio": {{result.TimeRatio:0.000}}, "rateMbps": {{DroppingLink.RateBitsPerSecond / 1e6}}, "dropEveryBytes": {{DroppingLink.DropEveryBytes}}, "downSeconds": {{DroppingLink.DownTime.TotalSeconds}}}""");
        if (Environment.GetEnvironmentVariable("THINLINK_BENCH_OUT") is { Length: > 0 } output)
        {
            await File.AppendAllTextAsync(output, line + Environment.NewLine);
        }

        Assert.True(result.Drops > 0, result.ToString()); // the link really dropped: the figures are about a dropping link
    }
}
