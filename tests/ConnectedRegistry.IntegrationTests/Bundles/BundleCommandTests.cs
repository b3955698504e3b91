using System.Net;
using ConnectedRegistry.Bundles;
using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Bundles;

/// <summary>The <c>bundle</c> command as a user runs it: on a stopped module's data root, and an export that stops half-way and is run again.</summary>
public sealed class BundleCommandTests
{
    [Fact]
    public async Task State_import_and_export_run_against_a_stopped_modules_data_root_and_the_started_module_serves_the_import()
    {
        await using var h = await BundleHarness.StartAsync();
        var image = h.Layout.SimpleImage("web", layerCount: 2, layerSize: 30_000);
        await h.Parent.PushAsync(h.Layout.Directory, "web", "apps/web", "v1");
        var data = TempDirectory.Create("stopped");
        try
        {
            var desired = Path.Combine(h.Work, "desired.json");
            var trusted = await File.ReadAllTextAsync(h.KeyPath + ".pub");
            await File.WriteAllTextAsync(desired, new JObject
            {
                ["name"] = BundleHarness.SiteName,
                ["mode"] = "ReadOnly",
                ["sync"] = new JObject { ["repositories"] = new JArray("apps/*") },
                ["bundles"] = new JObject { ["trustedKeys"] = new JArray(trusted) },
            }.ToString());

            var state = Path.Combine(h.Work, "site-state.json");
            var stated = await h.BundleAsync("state", "--data", data, "--desired", desired, "--output", state);
            Assert.True(stated.Code == 0, stated.Error);
            Assert.Equal(0, (int)JObject.Parse(stated.Output)["repositories"]!);

            var bundle = await h.ExportAsync("full.tar", since: state);
            var imported = await h.BundleAsync("import", "--data", data, "--desired", desired, bundle);
            Assert.True(imported.Code == 0, imported.Error);
            Assert.Equal(1, (int)JObject.Parse(imported.Output)["tagsSet"]!);

            // The same bundle again, and a bad one: exit 0 with nothing new, exit 1 with the reason.
            var again = await h.BundleAsync("import", "--data", data, "--desired", desired, bundle);
            Assert.True((bool)JObject.Parse(again.Output)["nothingNew"]!, again.Output);
            var foreign = await h.ExportAsync("foreign.tar", registry: "other-site", repositories: "apps/*");
            var refused = await h.BundleAsync("import", "--data", data, "--desired", desired, foreign);
            Assert.Equal(1, refused.Code);
            Assert.Contains("the bundle is for registry 'other-site'", refused.Error, StringComparison.Ordinal);

            var after = Path.Combine(h.Work, "after.json");
            Assert.Equal(0, (await h.BundleAsync("state", "--data", data, "--desired", desired, "--output", after)).Code);
            Assert.Equal(image.Digest.ToString(), (string?)JObject.Parse(await File.ReadAllTextAsync(after))["repositories"]!["apps/web"]!["v1"]);

            // That data root is a source of bundles too (a site passing content on to another).
            var passOn = Path.Combine(h.Work, "pass-on.tar");
            var fromData = await h.BundleAsync("export", "--from-data", data, "--registry", "next-site", "--repository", "apps/*", "--key", h.KeyPath, "--output", passOn);
            Assert.True(fromData.Code == 0, fromData.Error);
            var raw = await Skopeo.RunAsync(["inspect", "--raw", $"oci-archive:{passOn}:apps/web:v1"]);
            Assert.Equal(image.Digest, ConnectedRegistry.Oci.Digest.Compute(System.Text.Encoding.UTF8.GetBytes(raw.TrimEnd('\n'))));
            Assert.Equal("next-site", BundleHarness.ReadDescriptor(passOn).Registry);

            // The module started on that data root serves what the command imported.
            await using var started = await RegistryInstance.StartAsync(data);
            using var response = await started.Client.GetAsync("/v2/apps/web/manifests/v1");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(image.Digest.ToString(), response.Headers.GetValues("Docker-Content-Digest").Single());
        }
        finally
        {
            TempDirectory.Delete(data);
        }
    }

    [Fact]
    public async Task An_export_cut_off_mid_blob_continues_when_run_again_and_fetches_only_what_is_missing()
    {
        await using var h = await BundleHarness.StartAsync();
        var first = h.Layout.Layer(400_000);
        var second = h.Layout.Layer(600_000);
        var image = await h.Parent.PushImageAsync(h.Layout, "apps/web", first, second);
        await using var link = await ForwardingProxy.StartAsync(h.Parent.Endpoint);
        // The link drops 200 KB into the second layer, once.
        var dropped = 0;
        link.CutWhen = (path, sent) => path.Contains(second.Digest.Hex, StringComparison.Ordinal) && sent >= 200_000 && Interlocked.Exchange(ref dropped, 1) == 0;

        var args = h.ExportArguments("cut.tar", since: null, registry: BundleHarness.SiteName, key: null, link.Address, "apps/web");
        var cut = await BundleHarness.RunBundleAsync(args);
        Assert.Equal(1, cut.Code);
        Assert.Contains("run the same command again", cut.Error, StringComparison.Ordinal);
        var output = Path.Combine(h.Work, "cut.tar");
        Assert.False(File.Exists(output));
        Assert.True(File.Exists(output + ".partial"));
        var firstLayerFetches = link.RequestsFor(first.Digest.Hex).Count;

        var resumed = await BundleHarness.RunBundleAsync(args);
        Assert.True(resumed.Code == 0, resumed.Error);
        Assert.True((bool)JObject.Parse(resumed.Output)["resumed"]!);
        Assert.False(File.Exists(output + ".partial"));
        Assert.Equal(firstLayerFetches, link.RequestsFor(first.Digest.Hex).Count); // the whole first layer was not fetched again

        // The continued bundle is whole: skopeo reads it and the site imports it.
        var raw = await Skopeo.RunAsync(["inspect", "--raw", $"oci-archive:{output}:apps/web:v1"]);
        Assert.Equal(image.Digest, ConnectedRegistry.Oci.Digest.Compute(System.Text.Encoding.UTF8.GetBytes(raw.TrimEnd('\n'))));
        var result = await h.ImportNowAsync(output);
        Assert.Equal(1, result.TagsSet);
        Assert.True(h.Store.BlobExists(second.Digest));
    }
}
