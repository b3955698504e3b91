namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A sync down over a link that resets every connection after each 8 MB and then refuses connections for 3 s (or
/// another <see cref="LinkProfile"/>): the run shared by the dropping-link test and the thin-link benchmark.
/// </summary>
public static class DroppingLink
{
    public const double RateBitsPerSecond = 40_000_000;
    public const long DropEveryBytes = 8_000_000;
    public static readonly TimeSpan DownTime = TimeSpan.FromSeconds(3);

    /// <summary>This link: 40 Mbit/s, no added latency, a reset after each 8 MB, 3 s down.</summary>
    public static readonly LinkProfile EveryEightMegabytes = new(RateBitsPerSecond, TimeSpan.Zero, DropEveryBytes, DownTime);

    /// <summary>
    /// Pushes an image of <paramref name="layers"/> random layers, syncs it over the dropping link (<paramref name="link"/>,
    /// else <see cref="EveryEightMegabytes"/>), and measures (also the benchmark's entry).
    /// </summary>
    public static async Task<DroppingLinkResult> RunAsync(int layers, int layerBytes, LinkProfile? link = null)
    {
        var profile = link ?? EveryEightMegabytes;
        await using var h = await ThinLinkHarness.StartAsync();
        var blobs = Enumerable.Range(0, layers).Select(_ => h.Layout.Layer(layerBytes)).ToArray();
        var image = await h.PushAsync("thin/drops", blobs);
        var unique = blobs.Sum(b => b.Size);
        profile.ApplyTo(h.Link);
        await h.DesireAsync(["thin/drops"]);

        var trace = Environment.GetEnvironmentVariable("THINLINK_TRACE") is { Length: > 0 } traceFile ? traceFile : null;
        if (trace is not null)
        {
            h.Link.Trace = new();
        }

        await h.StartChildAsync(trace is not null ? h.Link.Trace : null);
        var expected = (unique * 8 / profile.RateBitsPerSecond) + (unique / profile.DropEveryBytes * profile.DownTime.TotalSeconds);
        await Poll.UntilAsync(() => h.HasTag("thin/drops", image), "the image synced over the dropping link", TimeSpan.FromMilliseconds((60_000 + (3_000 * expected))));
        var done = h.Link.Elapsed;
        if (trace is not null)
        {
            h.Link.Trace!.Enqueue((done, "tag synced"));
            await File.AppendAllLinesAsync(trace, h.Link.Trace.OrderBy(t => t.At).Select(t => $"{t.At.TotalSeconds,9:0.000} {t.What}"));
        }

        // From the first byte on the link (the module's start-up is not the link's time) to the tag being there.
        var first = h.Link.Samples.First(s => s.Bytes > 0).At - LinkEmulator.SampleInterval;
        var seconds = (done - first).TotalSeconds;
        var floor = (unique * 8 / profile.RateBitsPerSecond) + (h.Link.Drops * profile.DownTime.TotalSeconds);
        return new DroppingLinkResult(unique, h.Link.BytesFromParent, h.Link.TotalBytes, h.Link.Drops, seconds, floor);
    }
}

public sealed record DroppingLinkResult(long UniqueBytes, long BytesFromParent, long TotalBytes, int Drops, double Seconds, double FloorSeconds)
{
    public double BytesRatio => (double)BytesFromParent / UniqueBytes;

    public double TimeRatio => Seconds / FloorSeconds;

    public override string ToString() =>
        $"unique {UniqueBytes} B, from parent {BytesFromParent} B (ratio {BytesRatio:0.000}), both ways {TotalBytes} B, {Drops} drops, " +
        $"{Seconds:0.0} s against a floor of {FloorSeconds:0.0} s (ratio {TimeRatio:0.00})";
}
