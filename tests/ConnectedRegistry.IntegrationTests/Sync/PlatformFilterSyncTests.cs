using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// <c>sync.platforms</c> against a real docker-registry parent: a 3-platform index (amd64, arm64, arm/v7, each with
/// its attestation manifest) synced for <c>linux/arm64</c> keeps the index byte for byte and only the arm64 entry,
/// its attestation and their blobs; skopeo pulls arm64 with the parent stopped; other platforms come on demand while
/// the parent answers and are a 404 when it does not; a wider filter later brings what it selects.
/// </summary>
public sealed class PlatformFilterSyncTests
{
    private static readonly string[] ThreePlatforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"];

    [Fact]
    public async Task An_index_synced_for_arm64_keeps_the_index_and_the_arm64_image_with_its_attestation_only()
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        var image = MultiPlatformImage.Create("filtered", ThreePlatforms);
        using (var parent = h.ParentClient())
        {
            await image.PushAsync(parent, "apps/web", "v1");
        }

        h.Configure(["apps/web"], SyncHarness.Idle with { Platforms = ["linux/arm64"] });
        var result = await h.RunPassAsync();

        Assert.Empty(result.Failures);
        Assert.Equal(image.BlobBytes("linux/arm64"), result.BytesDownloaded);
        var stored = h.Store.GetManifest("apps/web", "v1")!;
        Assert.Equal(image.Index.Bytes, stored.Content); // byte for byte: its digest and signatures stay valid
        AssertHeld(h.Store, image, held: ["linux/arm64"], absent: ["linux/amd64", "linux/arm/v7"]);
        Assert.Empty(h.Store.ListReferrers("apps/web", image.Index.Digest));
        StoreVerifier.Verify(h.Child.DataRoot); // the left-out entries are expected, not corruption

        // The tag is complete: the next pass moves nothing.
        var before = h.Proxy!.Requests.Count(r => r.Path.Contains("/blobs/", StringComparison.Ordinal));
        var again = await h.RunPassAsync();
        Assert.Equal((0L, 0), (again.BytesDownloaded, again.TagsUpdated));
        Assert.Equal(before, h.Proxy.Requests.Count(r => r.Path.Contains("/blobs/", StringComparison.Ordinal)));

        // Online, a client asking for the amd64 entry gets it on demand.
        var amd64 = image.Images["linux/amd64"];
        using (var response = await h.Child.Client.GetAsync($"/v2/apps/web/manifests/{amd64.Manifest.Digest}"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(amd64.Manifest.Bytes, await response.Content.ReadAsByteArrayAsync());
        }

        await Poll.UntilAsync(() => h.Store.GetManifest("apps/web", amd64.Manifest.Digest.ToString()) is not null, "the amd64 image stored after its on-demand fetch", TimeSpan.FromSeconds(30));

        // Offline: arm64 pulls whole from here; arm/v7 is the normal 404.
        await h.Parent.StopAsync();
        var pulled = TempDirectory.Create("pulled");
        try
        {
            await Skopeo.RunAsync(["copy", "--quiet", "--preserve-digests", "--override-arch", "arm64", "--src-tls-verify=false", $"docker://{h.Child.HostPort}/apps/web:v1", $"oci:{pulled}:v1"]);
            var index = Newtonsoft.Json.Linq.JObject.Parse(File.ReadAllText(Path.Combine(pulled, "index.json")));
            Assert.Equal(image.Images["linux/arm64"].Manifest.Digest.ToString(), (string?)index["manifests"]![0]!["digest"]);
            Assert.True(File.Exists(Path.Combine(pulled, "blobs", "sha256", image.Images["linux/arm64"].Layers[0].Digest.Hex)));
        }
        finally
        {
            TempDirectory.Delete(pulled);
        }

        var armv7 = image.Images["linux/arm/v7"].Manifest.Digest;
        using (var missing = await h.Child.Client.GetAsync($"/v2/apps/web/manifests/{armv7}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            Assert.Equal("MANIFEST_UNKNOWN", await missing.ErrorCodeAsync());
        }

        // A wider filter brings the entries it now selects (and their attestations) to the tag that did not move.
        await h.Parent.StartAsync();
        h.Configure(["apps/web"], SyncHarness.Idle with { Platforms = ["linux/arm64", "linux/arm/v7"] });
        var wider = await h.RunPassAsync();
        Assert.Empty(wider.Failures);
        Assert.Equal(image.BlobBytes("linux/arm/v7"), wider.BytesDownloaded);
        AssertHeld(h.Store, image, held: ["linux/arm64", "linux/arm/v7"], absent: []);
        StoreVerifier.Verify(h.Child.DataRoot);
    }

    [Fact]
    public async Task Garbage_collection_keeps_a_filtered_index_and_sync_up_of_a_retag_skips_the_entries_left_out()
    {
        await using var h = await SyncHarness.StartAsync(childArgs: ["--gc-grace", "00:00:00"]);
        var image = MultiPlatformImage.Create("gc", ThreePlatforms);
        using var parent = h.ParentClient();
        await image.PushAsync(parent, "apps/web", "v1");
        h.Configure(["apps/web"], SyncHarness.Idle with { Platforms = ["linux/arm64"] });
        await h.RunPassAsync();
        h.Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(h.Settings with { GarbageCollection = new GarbageCollectionSettings { DeleteUntaggedManifests = true } });

        // Collected with no grace and untagged manifests on: the tagged index and what it holds stay, the store checks out.
        var collector = h.Child.App.Services.GetRequiredService<IGarbageCollector>();
        var collected = await collector.CollectAsync(default);
        Assert.Equal((0, 0), (collected.ManifestsDeleted, collected.BlobsDeleted));
        Assert.Equal(image.Index.Bytes, h.Store.GetManifest("apps/web", "v1")!.Content);
        AssertHeld(h.Store, image, held: ["linux/arm64"], absent: ["linux/amd64", "linux/arm/v7"]);
        StoreVerifier.Verify(h.Child.DataRoot);

        // A client tags the filtered index again (PUT of the same bytes): accepted, and sync up delivers it without
        // trying to push the entries this registry never held (the parent has them).
        using (var put = await h.Child.Client.PutManifestAsync("apps/web", "stable", image.Index))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        await h.Sync.RunAsync(h.Settings, default);
        Assert.Equal(image.Index.Digest, (await parent.HeadManifestAsync("apps/web", "stable", default))!.Digest);
        Assert.Equal(0, h.Child.App.Services.GetRequiredService<ConnectedRegistry.Sync.SyncOutbox>().Count());

        // An index whose entries are missing is still refused from a client that never pushed it.
        var other = MultiPlatformImage.Create("other", ThreePlatforms);
        using (var refused = await h.Child.Client.PutManifestAsync("apps/web", "other", other.Index))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("MANIFEST_BLOB_UNKNOWN", await refused.ErrorCodeAsync());
        }

        // Once no tag holds it, the index goes by the normal rules, and with it the entries it held.
        await h.Store.DeleteTagAsync("apps/web", "v1");
        await h.Store.DeleteTagAsync("apps/web", "stable");
        var untagged = await collector.CollectAsync(default);
        Assert.Equal(3, untagged.ManifestsDeleted);
        AssertHeld(h.Store, image, held: [], absent: ThreePlatforms);
        StoreVerifier.Verify(h.Child.DataRoot);
    }

    private static void AssertHeld(RegistryStore store, MultiPlatformImage image, string[] held, string[] absent)
    {
        foreach (var platform in held)
        {
            Assert.NotNull(store.GetManifest("apps/web", image.Images[platform].Manifest.Digest.ToString()));
            Assert.NotNull(store.GetManifest("apps/web", image.Attestations[platform].Manifest.Digest.ToString()));
            Assert.All(image.Images[platform].Blobs.Concat(image.Attestations[platform].Blobs), b => Assert.True(store.BlobExists(b.Digest), $"{platform} blob {b.Digest}"));
        }

        foreach (var platform in absent)
        {
            Assert.Null(store.GetManifest("apps/web", image.Images[platform].Manifest.Digest.ToString()));
            Assert.Null(store.GetManifest("apps/web", image.Attestations[platform].Manifest.Digest.ToString()));
            Assert.All(image.Images[platform].Blobs.Concat(image.Attestations[platform].Blobs), b => Assert.False(store.BlobExists(b.Digest), $"{platform} blob {b.Digest}"));
        }
    }
}
