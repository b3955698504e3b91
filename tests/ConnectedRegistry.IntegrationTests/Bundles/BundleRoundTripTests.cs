using ConnectedRegistry.Bundles;
using ConnectedRegistry.Oci;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Bundles;

/// <summary>The whole offline round trip against a real docker-registry as headquarters: state → export → carry → import → next sync.</summary>
public sealed class BundleRoundTripTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task State_full_export_import_delta_export_import_and_the_next_sync_reads_under_one_percent_from_the_parent()
    {
        await using var h = await BundleHarness.StartAsync();
        var shared = h.Layout.Layer(300_000);
        var webLayer = h.Layout.Layer(400_000);
        var web = await h.Parent.PushImageAsync(h.Layout, "apps/web", shared, webLayer);
        var api = await h.Parent.PushImageAsync(h.Layout, "apps/api", shared, h.Layout.Layer(200_000));

        // The state of an empty site: its name and sync set, nothing held.
        var emptyState = await h.StateAsync("empty.json");
        var empty = JObject.Parse(await File.ReadAllTextAsync(emptyState));
        Assert.Equal(BundleHarness.SiteName, (string?)empty["registry"]);
        Assert.Equal(["apps/*"], empty["syncSet"]!.Select(p => (string)p!));
        Assert.Empty((JObject)empty["repositories"]!);
        Assert.Empty((JArray)empty["blobs"]!);

        // Full export: both repositories, every blob once (the shared layer too).
        var full = await h.ExportAsync("full.tar", since: emptyState);
        var fullDescriptor = BundleHarness.ReadDescriptor(full);
        Assert.Equal(["apps/api", "apps/web"], fullDescriptor.Repositories.Select(r => r.Name));
        Assert.Equal(web.Digest, fullDescriptor.Repositories[1].Tags["v1"]);
        var fullBlobs = BlobsOf(web).Union(BlobsOf(api)).ToHashSet();
        Assert.Equal(Sorted(fullBlobs), Sorted(fullDescriptor.Objects.Where(o => !o.IsManifest).Select(o => o.Digest)));
        Assert.NotNull(fullDescriptor.Since);

        // Import at the site: tags exactly as sync down sets them, content a client can pull.
        var imported = await h.ImportAsync(full);
        Assert.True(imported.Type == "Information", imported.Description);
        Assert.Contains("2 tags set", imported.Description, StringComparison.Ordinal);
        Assert.Equal(web.Digest, h.Store.GetManifest("apps/web", "v1")!.Digest);
        Assert.Equal(api.Digest, h.Store.GetManifest("apps/api", "v1")!.Digest);
        Assert.All(fullBlobs, b => Assert.True(h.Store.BlobExists(b)));
        Assert.Equal("Completed", h.State.Snapshot().Sync.Progress!.State);
        var pulled = Path.Combine(h.Work, "pulled");
        await Skopeo.RunAsync(["copy", "--quiet", "--src-tls-verify=false", $"docker://{h.Site.HostPort}/apps/web:v1", $"oci:{pulled}:v1"]);
        Assert.Equal(webLayer.Bytes, File.ReadAllBytes(Path.Combine(pulled, "blobs", "sha256", webLayer.Digest.Hex)));

        // The same bundle again: nothing to do.
        var before = h.Snapshot();
        var again = await h.ImportAsync(full);
        Assert.StartsWith("imported nothing new", again.Description, StringComparison.Ordinal);
        Assert.Equal(before, h.Snapshot());

        // A tag added at headquarters: the delta export holds only its new blobs.
        var newLayer = h.Layout.Layer(500_000);
        var web2 = h.Layout.Image("amd64", shared, newLayer);
        h.Layout.Tag(web2, "web2");
        await h.Parent.PushAsync(h.Layout.Directory, "web2", "apps/web", "v2");
        var afterFull = await h.StateAsync("after-full.json");
        var delta = await h.ExportAsync("delta.tar", since: afterFull);
        var deltaDescriptor = BundleHarness.ReadDescriptor(delta);
        Assert.Equal(Sorted(BlobsOf(web2).Except(fullBlobs)), Sorted(deltaDescriptor.Objects.Where(o => !o.IsManifest).Select(o => o.Digest)));
        Assert.Equal(2, deltaDescriptor.Objects.Count(o => !o.IsManifest)); // its config and its new layer
        var deltaRepository = Assert.Single(deltaDescriptor.Repositories);
        Assert.Equal("apps/web", deltaRepository.Name);
        Assert.Equal(["v2"], deltaRepository.Tags.Keys);
        Assert.True(new FileInfo(delta).Length < 600_000, $"delta bundle is {new FileInfo(delta).Length} bytes");

        var deltaImported = await h.ImportAsync(delta);
        Assert.True(deltaImported.Type == "Information", deltaImported.Description);
        Assert.Equal(web2.Digest, h.Store.GetManifest("apps/web", "v2")!.Digest);
        Assert.Equal(web.Digest, h.Store.GetManifest("apps/web", "v1")!.Digest);

        // The link comes back: the next sync finds every tag in place and reads (almost) nothing from the parent.
        h.Proxy.Requests.Clear();
        var pass = await h.SyncPassAsync();
        Assert.Empty(pass.Failures);
        Assert.Equal(0, pass.BlobsFetched);
        Assert.Equal(0, pass.TagsUpdated);
        Assert.Equal(0, pass.TagsRemoved);
        var contentBytes = fullBlobs.Union(BlobsOf(web2)).Sum(d => h.Store.GetBlobSize(d)!.Value);
        var readFromParent = h.Proxy.Requests.Sum(r => r.BodyBytes);
        output.WriteLine($"next sync after the imports: {readFromParent} bytes read from the parent for {contentBytes} bytes of content ({100.0 * readFromParent / contentBytes:0.000} %), {h.Proxy.Requests.Count} requests");
        Assert.True(readFromParent * 100 <= contentBytes, $"the next sync read {readFromParent} bytes from the parent; the content is {contentBytes}");
        Assert.Empty(h.Proxy.RequestsFor("/blobs/"));
    }

    [Fact]
    public async Task Skopeo_reads_the_bundle_as_an_oci_archive_by_repository_and_tag()
    {
        await using var h = await BundleHarness.StartAsync();
        var amd = h.Layout.Image("amd64", h.Layout.Layer(20_000), h.Layout.Layer(30_000));
        var arm = h.Layout.Image("arm64", h.Layout.Layer(25_000));
        var index = h.Layout.Index(amd, arm);
        h.Layout.Tag(index, "multi");
        var simple = h.Layout.SimpleImage("simple");
        await h.Parent.PushAsync(h.Layout.Directory, "multi", "apps/web", "v1");
        await h.Parent.PushAsync(h.Layout.Directory, "simple", "apps/tools/cli", "latest");
        var bundle = await h.ExportAsync("full.tar", repositories: "apps/*");

        var raw = await Skopeo.RunAsync(["inspect", "--raw", $"oci-archive:{bundle}:apps/web:v1"]);
        Assert.Equal(index.Digest, Digest.Compute(System.Text.Encoding.UTF8.GetBytes(raw.TrimEnd('\n'))));
        var copied = Path.Combine(h.Work, "copied");
        await Skopeo.RunAsync(["copy", "--all", "--quiet", $"oci-archive:{bundle}:apps/web:v1", $"oci:{copied}:web"]);
        await Skopeo.RunAsync(["copy", "--quiet", $"oci-archive:{bundle}:apps/tools/cli:latest", $"oci:{copied}:cli"]);
        var layout = JObject.Parse(await File.ReadAllTextAsync(Path.Combine(copied, "index.json")));
        Assert.Equal([index.Digest.ToString(), simple.Digest.ToString()], layout["manifests"]!.Select(m => (string)m["digest"]!));
        Assert.True(File.Exists(Path.Combine(copied, "blobs", "sha256", arm.Digest.Hex)));

        // The layout's index names every tag as repository:tag, with the repository and tag in annotations of their own.
        var bundleIndex = JObject.Parse(System.Text.Encoding.UTF8.GetString(BundleHarness.ReadEntry(bundle, BundleFormat.IndexFile)));
        var entry = bundleIndex["manifests"]!.Single(m => (string?)m["annotations"]![BundleFormat.RepositoryAnnotation] == "apps/web");
        Assert.Equal("apps/web:v1", (string?)entry["annotations"]![BundleFormat.RefNameAnnotation]);
        Assert.Equal("v1", (string?)entry["annotations"]![BundleFormat.TagAnnotation]);
    }

    private static List<string> Sorted(IEnumerable<Digest> digests) => [.. digests.Select(d => d.ToString()).Order(StringComparer.Ordinal)];

    /// <summary>The config and layers of an image manifest.</summary>
    private static IEnumerable<Digest> BlobsOf(TestBlob manifest) =>
        ManifestParser.Parse(manifest.Bytes, MediaTypes.OciManifest).RequiredBlobs.Select(b => b.Digest);
}
