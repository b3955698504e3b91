using System.Text;
using ConnectedRegistry.Bundles;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Bundles;

/// <summary>A bundle that is not exactly what a trusted exporter signed for this registry is refused with its reason, and the site is left as it was.</summary>
public sealed class BundleRefusalTests
{
    [Fact]
    public async Task Tampered_foreign_wrongly_signed_or_torn_bundles_are_refused_with_their_reason_and_change_nothing()
    {
        await using var h = await BundleHarness.StartAsync();
        var layer = h.Layout.Layer(100_000);
        var image = await h.Parent.PushImageAsync(h.Layout, "apps/web", h.Layout.Layer(50_000), layer);
        var good = await h.ExportAsync("good.tar", repositories: "apps/*");

        var otherKey = Path.Combine(h.Work, "keys", "other.pem");
        Assert.Equal(0, (await h.BundleAsync("keygen", "--key", otherKey)).Code);
        var untrusted = await h.ExportAsync("untrusted.tar", key: otherKey, repositories: "apps/*");
        var foreign = await h.ExportAsync("foreign.tar", registry: "other-site", repositories: "apps/*");
        var layerEntry = BundleFormat.BlobEntry(layer.Digest);
        var cases = new (string Bundle, string Reason)[]
        {
            (BundleHarness.Rewrite(good, Path.Combine(h.Work, "tampered-blob.tar"), (name, bytes) => name == layerEntry ? Flip(bytes) : bytes),
                $"blob {layer.Digest} does not match its digest"),
            (BundleHarness.Rewrite(good, Path.Combine(h.Work, "tampered-tag.tar"), (name, bytes) => name == BundleFormat.DescriptorFile ? Replace(bytes, "\"v1\"", "\"v9\"") : bytes),
                "the signature does not match bundle.json"),
            (BundleHarness.Rewrite(good, Path.Combine(h.Work, "tampered-index.tar"), (name, bytes) => name == BundleFormat.IndexFile ? Replace(bytes, "apps/web:v1", "apps/web:latest") : bytes),
                "index.json is not the one the signed descriptor implies"),
            (untrusted, "which is not in bundles.trustedKeys"),
            (BundleHarness.Rewrite(good, Path.Combine(h.Work, "forged.tar"), (name, bytes) => name == BundleFormat.SignatureFile ? BundleHarness.ReadEntry(untrusted, name) : bytes),
                "the signature does not match bundle.json"),
            (foreign, $"the bundle is for registry 'other-site', this registry is '{BundleHarness.SiteName}'"),
            (Truncate(good, Path.Combine(h.Work, "truncated.tar")), "torn"),
            (BundleHarness.Rewrite(good, Path.Combine(h.Work, "missing.tar"), (name, bytes) => name == layerEntry ? null : bytes),
                "the bundle is torn: 1 of its 4 objects are missing"),
            (Path.Combine(h.Work, "not-a-bundle.tar"), "not a tar"),
        };
        await File.WriteAllTextAsync(Path.Combine(h.Work, "not-a-bundle.tar"), new string('x', 4096));

        var before = h.Snapshot();
        foreach (var (bundle, reason) in cases)
        {
            var refused = await Assert.ThrowsAsync<BundleRefusedException>(() => h.ImportNowAsync(bundle));
            Assert.True(refused.Message.Contains(reason, StringComparison.Ordinal), $"{Path.GetFileName(bundle)}: '{refused.Message}' does not say '{reason}'");
            Assert.Equal(before, h.Snapshot());
            var detail = h.State.Snapshot().StatusDetails.Single(d => d.Code == BundleImporter.StatusCode);
            Assert.Equal("Error", detail.Type);
            Assert.Contains(reason, detail.Description, StringComparison.Ordinal);
        }

        // Through the direct method the refusal is the status detail, and the sync progress says Failed.
        var viaMethod = await h.ImportAsync(Path.Combine(h.Work, "tampered-blob.tar"));
        Assert.Equal("Error", viaMethod.Type);
        Assert.Contains("refused, nothing changed", viaMethod.Description, StringComparison.Ordinal);
        Assert.Equal("Failed", h.State.Snapshot().Sync.Progress!.State);
        Assert.Null(h.Store.GetManifest("apps/web", "v1"));

        // The good bundle imports: the refusals were about the bundles, not the site.
        var imported = await h.ImportAsync(good);
        Assert.True(imported.Type == "Information", imported.Description);
        Assert.Equal(image.Digest, h.Store.GetManifest("apps/web", "v1")!.Digest);
    }

    [Fact]
    public async Task Without_a_trusted_key_nothing_is_imported_and_paths_outside_the_data_volume_are_refused()
    {
        await using var h = await BundleHarness.StartAsync();
        await h.Parent.PushAsync(h.Layout.Directory, Tagged(h, "web"), "apps/web", "v1");
        var bundle = await h.ExportAsync("good.tar", repositories: "apps/*");
        h.Configure(RegistryMode.ReadWrite, ["apps/*"], trustedKeys: []);

        var refused = await Assert.ThrowsAsync<BundleRefusedException>(() => h.ImportNowAsync(bundle));
        Assert.Contains("no exporter key is trusted", refused.Message, StringComparison.Ordinal);
        Directory.CreateDirectory(Path.Combine(h.Site.DataRoot, BundlePaths.Folder));
        File.Copy(bundle, Path.Combine(h.Site.DataRoot, BundlePaths.Folder, "good.tar"));
        var answer = await h.InvokeAsync("importBundle", new JObject { ["path"] = "bundles/good.tar" });
        Assert.Equal(409, answer.Status);
        Assert.Equal("NoTrustedKeys", (string?)answer.Payload["error"]!["code"]);

        foreach (var path in new[] { "../good.tar", bundle, "bundles/../../good.tar", "bundles/absent.tar" })
        {
            var outside = await h.InvokeAsync("importBundle", new JObject { ["path"] = path });
            Assert.Equal(400, outside.Status);
            Assert.Equal("BadPath", (string?)outside.Payload["error"]!["code"]);
        }

        Assert.Equal(400, (await h.InvokeAsync("importBundle", new JObject { ["file"] = "x" })).Status);
        Assert.Equal(400, (await h.InvokeAsync("bundleState", new JObject { ["file"] = "../state.json" })).Status);
        Assert.Empty(h.Store.ListRepositories());
    }

    [Fact]
    public async Task Repositories_outside_the_sync_set_are_not_imported()
    {
        await using var h = await BundleHarness.StartAsync(repositories: ["apps/*"]);
        var web = h.Layout.SimpleImage("web", layerCount: 1);
        var dbLayer = h.Layout.Layer(70_000);
        await h.Parent.PushAsync(h.Layout.Directory, "web", "apps/web", "v1");
        await h.Parent.PushImageAsync(h.Layout, "other/db", dbLayer);
        var bundle = await h.ExportAsync("both.tar", repositories: ["apps/*", "other/*"]);
        Assert.Equal(["apps/web", "other/db"], BundleHarness.ReadDescriptor(bundle).Repositories.Select(r => r.Name));

        var result = await h.ImportNowAsync(bundle);

        Assert.Equal(["apps/web"], result.Repositories);
        Assert.Equal(["other/db"], result.Skipped);
        Assert.Equal(["apps/web"], h.Store.ListRepositories());
        Assert.Equal(web.Digest, h.Store.GetManifest("apps/web", "v1")!.Digest);
        Assert.False(h.Store.BlobExists(dbLayer.Digest));
        Assert.Null(h.Store.GetManifest("other/db", "v1"));
    }

    private static string Tagged(BundleHarness h, string tag)
    {
        h.Layout.SimpleImage(tag, layerCount: 1);
        return tag;
    }

    private static byte[] Flip(byte[] bytes)
    {
        var copy = (byte[])bytes.Clone();
        copy[copy.Length / 2] ^= 0x01;
        return copy;
    }

    private static byte[] Replace(byte[] bytes, string from, string to)
    {
        var text = Encoding.UTF8.GetString(bytes);
        Assert.Contains(from, text, StringComparison.Ordinal);
        return Encoding.UTF8.GetBytes(text.Replace(from, to, StringComparison.Ordinal));
    }

    private static string Truncate(string bundle, string output)
    {
        var bytes = File.ReadAllBytes(bundle);
        File.WriteAllBytes(output, bytes[..(bytes.Length * 2 / 3)]);
        return output;
    }
}
