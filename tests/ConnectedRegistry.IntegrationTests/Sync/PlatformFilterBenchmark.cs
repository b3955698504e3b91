using System.Globalization;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// The platform-filter benchmark (<c>bench/platform-filter.sh</c>): the bytes the link from a docker-registry parent
/// carries (counted by the test link emulator, headers and all) to sync one 3-platform image with attestations
/// (amd64, arm64, arm/v7), once with every platform and once with <c>sync.platforms: ["linux/arm64"]</c>, each into a
/// fresh child. Marked <c>Category=Benchmark</c>, which <c>scripts/test.sh</c> leaves out; writes one JSON line to
/// <c>PLATFORM_BENCH_OUT</c> when that is set.
/// </summary>
public sealed class PlatformFilterBenchmark
{
    [Fact]
    [Trait("Category", "Benchmark")]
    public async Task Bytes_moved_for_a_3_platform_image_with_and_without_the_platform_filter()
    {
        var layerBytes = int.Parse(Environment.GetEnvironmentVariable("BENCH_LAYER_MB") ?? "4", CultureInfo.InvariantCulture) * 1_000_000;
        var image = MultiPlatformImage.Create("bench-" + Guid.NewGuid().ToString("N"), ["linux/amd64", "linux/arm64", "linux/arm/v7"], layerBytes);
        var all = await SyncThroughLinkAsync(image, []);
        var arm64 = await SyncThroughLinkAsync(image, ["linux/arm64"]);
        var unique = image.Images.Keys.Sum(image.BlobBytes);

        var line = string.Create(CultureInfo.InvariantCulture,
            $$"""{"platforms": 3, "layerBytes": {{layerBytes}}, "uniqueBlobBytes": {{unique}}, "bytesAllPlatforms": {{all.Bytes}}, "bytesArm64Only": {{arm64.Bytes}}, "ratio": {{(double)all.Bytes / arm64.Bytes:0.000}}, "secondsAll": {{all.Seconds:0.00}}, "secondsArm64": {{arm64.Seconds:0.00}}}""");
        if (Environment.GetEnvironmentVariable("PLATFORM_BENCH_OUT") is { Length: > 0 } output)
        {
            await File.AppendAllTextAsync(output, line + Environment.NewLine);
        }

        Assert.True(all.Bytes >= unique && arm64.Bytes >= image.BlobBytes("linux/arm64") && arm64.Bytes < all.Bytes, line);
    }

    private static async Task<(long Bytes, double Seconds)> SyncThroughLinkAsync(MultiPlatformImage image, string[] platforms)
    {
        await using var h = await SyncHarness.StartAsync();
        using (var parent = h.ParentClient())
        {
            await image.PushAsync(parent, "apps/web", "v1");
        }

        await using var link = LinkEmulator.Start(h.Parent.Endpoint);
        var settings = h.Settings with
        {
            Parent = new ParentSettings { Endpoint = link.AddressFor(h.Parent.Endpoint), SyncTokenName = DockerRegistry.User },
            Sync = SyncHarness.Idle with { Repositories = ["apps/web"], Platforms = platforms },
        };
        h.Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(settings);
        var started = link.Elapsed;
        await h.Sync.RunAsync(settings, default);
        Assert.Empty(h.Sync.LastResult!.Failures);
        return (link.TotalBytes, (link.Elapsed - started).TotalSeconds);
    }
}
