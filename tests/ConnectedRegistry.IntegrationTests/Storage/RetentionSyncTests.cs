using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>
/// Retention of synced tags, against a real docker-registry parent: <c>keepNewest</c> counts by sync time, and a tag the
/// pass removed stays away at the next sync pass until it moves at the parent or a client pulls it on demand.
/// </summary>
public sealed class RetentionSyncTests
{
    [Fact]
    public async Task KeepNewest_counts_synced_tags_by_sync_time_and_sync_does_not_bring_a_removed_tag_back_until_it_moves()
    {
        await using var h = await SyncHarness.StartAsync(childArgs: ["--gc-grace", "00:00:00"]);
        var images = new Dictionary<string, Oci.Digest>(StringComparer.Ordinal);
        foreach (var tag in new[] { "r2", "r3", "r1" }) // synced in this order, one pass each: r1 is the newest here
        {
            images[tag] = h.Layout.SimpleImage(tag, layerCount: 1).Digest;
            await h.Parent.PushAsync(h.LayoutDir, tag, "apps/rel", tag);
            await h.RunPassAsync();
            await Task.Delay(5); // distinct sync times (milliseconds)
        }

        var retention = DesiredPropertiesParser.Parse(TwinJson.ParseObject("""{ "storage": { "retention": [{ "repositories": ["apps/rel"], "keepNewest": 1 }] } }""")).Settings!.Storage;
        h.Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(h.Settings with { Storage = retention });
        var pass = h.Child.App.Services.GetRequiredService<RetentionPass>();

        var result = await pass.RunAsync(dryRun: false, CancellationToken.None);

        Assert.Equal(["r2", "r3"], result.Tags.Select(t => t.Tag).Order(StringComparer.Ordinal));
        Assert.Equal(["r1"], h.Store.ListTags("apps/rel").Select(t => t.Tag));

        Assert.Equal(2, TestDatabase.Scalar(Path.Combine(h.Child.DataRoot, "sync.db"), "SELECT COUNT(*) FROM retired_tags WHERE repository='apps/rel'"));

        // The next sync pass leaves them out: the parent still has them where they were.
        var again = await h.RunPassAsync();
        Assert.Equal(0, again.TagsUpdated);
        Assert.Equal(["r1"], h.Store.ListTags("apps/rel").Select(t => t.Tag));

        // r2 moves at the parent: synced again. r3 is pulled by a client: fetched on demand, and then kept by sync.
        var moved = h.Layout.SimpleImage("r2-moved", layerCount: 1);
        await h.Parent.PushAsync(h.LayoutDir, "r2-moved", "apps/rel", "r2");
        await h.RunPassAsync();
        Assert.Equal(moved.Digest, h.Store.GetManifest("apps/rel", "r2")!.Digest);
        using (var pulled = await h.Child.Client.GetAsync("/v2/apps/rel/manifests/r3"))
        {
            Assert.Equal(HttpStatusCode.OK, pulled.StatusCode);
        }

        // The pulled manifest is stored once its blobs are whole, in the background (a tag never points at missing
        // content): the pass that follows must see it here, or it would still leave the retired tag out.
        await Poll.UntilAsync(() => h.Store.GetManifest("apps/rel", "r3") is not null, "apps/rel:r3 stored after the on-demand pull");
        await h.RunPassAsync();
        Assert.Equal(["r1", "r2", "r3"], h.Store.ListTags("apps/rel").Select(t => t.Tag));
        Assert.Equal(images["r3"], h.Store.GetManifest("apps/rel", "r3")!.Digest);
    }
}
