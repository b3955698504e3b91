namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// No idle time after a drop: a sync down over a link that resets every connection after each 8 MB and then refuses
/// connections for 3 s completes (and, measured as a benchmark, close to the floor (transfer at the link's rate plus the time the link was down)),
/// with the module's default sync, scheduler and resilience options, and the link carries at most 1.02 times the
/// unique bytes (a drop costs what was in flight, not what had arrived).
/// </summary>
public sealed class DroppingLinkTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task A_64_MB_sync_over_a_link_that_drops_every_8_MB_completes_with_at_most_1_02_times_the_bytes()
    {
        var result = await DroppingLink.RunAsync(layers: 8, layerBytes: 8_000_000);
        output.WriteLine(result.ToString());

        Assert.True(result.Drops >= 6, $"the link dropped {result.Drops} times");

        // Fewer bytes lost per drop (issue 9 item 5): what arrived before a reset is on disk, the resume asks for the next byte.
        Assert.True(result.BytesRatio <= 1.02, result.ToString());
    }

    /// <summary>
    /// The time against the floor is a speed: measured as a benchmark (quiet machine), not asserted in the suite, where a
    /// CPU hog beside the run made it 1.38 times the floor (50.7 s against 36.8 s) with the bytes still at 1.001.
    /// </summary>
    [Fact]
    [Trait("Category", "Benchmark")]
    public async Task A_64_MB_sync_over_a_link_that_drops_every_8_MB_finishes_within_1_3_times_the_floor()
    {
        var result = await DroppingLink.RunAsync(layers: 8, layerBytes: 8_000_000);
        output.WriteLine(result.ToString());

        Assert.True(result.Drops >= 6, $"the link dropped {result.Drops} times");
        Assert.True(result.Seconds <= 1.3 * result.FloorSeconds, result.ToString());
    }
}
