using ConnectedRegistry.Bundles;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Bundles;

/// <summary>
/// The site's filters travel with its state: a site synced for <c>linux/arm64</c> writes them into its state file, an
/// export with <c>--since</c> takes the index byte for byte with only the arm64 entry and its attestation, and the
/// import sets the tag though the left-out entries are not in the bundle.
/// </summary>
public sealed class BundlePlatformFilterTests
{
    private static readonly string[] ThreePlatforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"];

    [Fact]
    public async Task A_site_synced_for_arm64_gets_a_bundle_with_the_index_and_the_arm64_image_and_its_attestation_only()
    {
        await using var h = await BundleHarness.StartAsync();
        var image = MultiPlatformImage.Create("bundled", ThreePlatforms);
        using (var parent = ParentClients.Client(h.Parent.Endpoint, new ParentCredentials(DockerRegistry.User, DockerRegistry.Password)))
        {
            await image.PushAsync(parent, "apps/web", "v1");
        }

        h.Apply(h.Settings with { Sync = h.Settings.Sync with { Platforms = ["linux/arm64"] } });

        // The state file records the site's own filters, camelCase as the rest of it.
        var statePath = await h.StateAsync("state.json");
        var filters = (JObject)JObject.Parse(await File.ReadAllTextAsync(statePath))["filters"]!;
        Assert.Equal(["apps/*"], filters["repositories"]!.Select(p => (string)p!));
        Assert.Equal(["linux/arm64"], filters["platforms"]!.Select(p => (string)p!));
        Assert.Empty((JArray)filters["filters"]!);
        Assert.Empty((JArray)filters["children"]!);

        // Export applies them: the index, the arm64 image and its attestation with their blobs; nothing of amd64 or arm/v7.
        var bundle = await h.ExportAsync("filtered.tar", since: statePath);
        var descriptor = BundleHarness.ReadDescriptor(bundle);
        var objects = descriptor.Objects.Select(o => o.Digest).ToHashSet();
        Assert.Contains(image.Index.Digest, objects);
        Assert.Equal(image.Index.Bytes, BundleHarness.ReadEntry(bundle, BundleFormat.BlobEntry(image.Index.Digest)));
        var arm64 = Parts(image, "linux/arm64").ToList();
        Assert.All(arm64, d => Assert.Contains(d, objects));
        foreach (var platform in new[] { "linux/amd64", "linux/arm/v7" })
        {
            Assert.All(Parts(image, platform), d => Assert.DoesNotContain(d, objects));
        }

        Assert.Equal(arm64.Distinct().Count() + 1, objects.Count);

        // Import: the tag is set, the arm64 image is held, the left-out entries are not (and need not be).
        var imported = await h.ImportAsync(bundle);
        Assert.True(imported.Type == "Information", imported.Description);
        await Poll.UntilAsync(() => h.Store.GetManifest("apps/web", "v1") is not null, "the tag set by the import", TimeSpan.FromSeconds(30));
        Assert.Equal(image.Index.Bytes, h.Store.GetManifest("apps/web", "v1")!.Content);
        Assert.All(arm64.Skip(2), b => Assert.True(h.Store.BlobExists(b), $"arm64 blob {b}"));
        Assert.NotNull(h.Store.GetManifest("apps/web", image.Images["linux/arm64"].Manifest.Digest.ToString()));
        Assert.NotNull(h.Store.GetManifest("apps/web", image.Attestations["linux/arm64"].Manifest.Digest.ToString()));
        Assert.Null(h.Store.GetManifest("apps/web", image.Images["linux/amd64"].Manifest.Digest.ToString()));
    }

    /// <summary>A platform's image and attestation manifests (first), then their blobs.</summary>
    private static IEnumerable<Digest> Parts(MultiPlatformImage image, string platform) =>
        new[] { image.Images[platform].Manifest.Digest, image.Attestations[platform].Manifest.Digest }
            .Concat(image.Images[platform].Blobs.Concat(image.Attestations[platform].Blobs).Select(b => b.Digest));
}
