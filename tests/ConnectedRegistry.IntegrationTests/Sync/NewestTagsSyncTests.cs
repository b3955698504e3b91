using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// <c>newest</c> in <c>sync.filters</c> against a real docker-registry parent: exactly the N newest tags by semantic
/// version come; when the parent gets a newer one, the next pass removes the oldest here (never at the parent), and
/// garbage collection takes its content like any untagged content.
/// </summary>
public sealed class NewestTagsSyncTests
{
    [Fact]
    public async Task Newest_keeps_exactly_the_n_newest_tags_and_drops_the_oldest_when_a_newer_one_comes()
    {
        await using var h = await SyncHarness.StartAsync(childArgs: ["--gc-grace", "00:00:00"]);
        var images = new Dictionary<string, TestBlob>();
        foreach (var tag in (string[])["1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1", "2.0.0"])
        {
            images[tag] = h.Layout.SimpleImage(tag, layerCount: 1);
            await h.Parent.PushAsync(h.LayoutDir, tag, "apps/web", tag);
        }

        await h.Parent.PushAsync(h.LayoutDir, "2.0.0", "apps/web", "latest");
        var newest = new SyncFilterSettings { Repositories = ["apps/*"], Newest = 3 };
        h.Configure(["apps/*"], SyncHarness.Idle with { Filters = [newest] });

        var first = await h.RunPassAsync();

        Assert.Empty(first.Failures);
        Assert.Equal(["1.10.0", "2.0.0", "2.0.0-rc.1"], LocalTags(h)); // 1.10.0 above 1.2.0; latest is no version: older than all

        // The parent gets a newer version: it comes, the oldest kept one goes here, the parent keeps every tag.
        images["2.1.0"] = h.Layout.SimpleImage("2.1.0", layerCount: 1);
        await h.Parent.PushAsync(h.LayoutDir, "2.1.0", "apps/web", "2.1.0");

        var second = await h.RunPassAsync();

        Assert.Empty(second.Failures);
        Assert.Equal(["2.0.0", "2.0.0-rc.1", "2.1.0"], LocalTags(h));
        using var parent = h.ParentClient();
        Assert.Equal(["1.0.0", "1.10.0", "1.2.0", "2.0.0", "2.0.0-rc.1", "2.1.0", "latest"], (await parent.ListTagsAsync("apps/web", default))!.Order(StringComparer.Ordinal));

        // Its content is garbage now: collected with untagged manifests on, what the kept tags hold stays.
        h.Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(h.Settings with { GarbageCollection = new GarbageCollectionSettings { DeleteUntaggedManifests = true } });
        var collected = await h.Child.App.Services.GetRequiredService<IGarbageCollector>().CollectAsync(default);
        Assert.Equal(1, collected.ManifestsDeleted);
        Assert.Null(h.Store.GetManifest("apps/web", images["1.10.0"].Digest.ToString()));
        Assert.Equal(images["2.0.0"].Digest, h.Store.GetManifest("apps/web", "2.0.0")!.Digest);
        StoreVerifier.Verify(h.Child.DataRoot);

        // With includeTags the count is of what the expression selects: releases only. The pre-release is not
        // selected and stays as it is (as any tag a filter stops selecting); 1.10.0 is among the newest 3 again.
        h.Configure(["apps/*"], SyncHarness.Idle with { Filters = [newest with { IncludeTags = @"^\d+\.\d+\.\d+$" }] });

        var third = await h.RunPassAsync();

        Assert.Empty(third.Failures);
        Assert.Equal(["1.10.0", "2.0.0", "2.0.0-rc.1", "2.1.0"], LocalTags(h));
        Assert.Equal(images["1.10.0"].Digest, h.Store.GetManifest("apps/web", "1.10.0")!.Digest);
    }

    [Fact]
    public async Task A_parent_keeps_the_largest_count_its_children_need_and_every_tag_for_a_child_without_one()
    {
        await using var h = await SyncHarness.StartAsync();
        string[] tags = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "latest"];
        foreach (var tag in tags)
        {
            h.Layout.SimpleImage(tag, layerCount: 1);
            await h.Parent.PushAsync(h.LayoutDir, tag, "apps/web", tag);
        }

        h.Configure(["apps/web"], SyncHarness.Idle with { Filters = [new SyncFilterSettings { Repositories = ["apps/web"], Newest = 1 }] });
        ChildRegistrySettings Child(int? newest) => new()
        {
            SyncTokenPasswordHash = "unused",
            Repositories = ["apps/*"],
            Filters = newest is null ? [] : [new SyncFilterSettings { Repositories = ["apps/*"], Newest = newest }],
        };
        async Task<List<string>> PassAsync(params int?[] children)
        {
            await h.Sync.RunAsync(h.Settings with { Children = children.Select((n, i) => (n, i)).ToDictionary(c => $"cell-{c.i}", c => Child(c.n)) }, default);
            Assert.Empty(h.Sync.LastResult!.Failures);
            return LocalTags(h);
        }

        Assert.Equal(["1.1.0", "1.2.0", "1.3.0"], await PassAsync(3, 2)); // newest 3 and newest 2 of the same repository: 3
        Assert.Equal(["1.2.0", "1.3.0"], await PassAsync(2)); // the child needing 3 is gone: the third is removed
        Assert.Equal(tags, await PassAsync(2, null)); // a child without a count needs every tag
        Assert.Equal(["1.3.0"], await PassAsync()); // alone: its own newest 1
    }

    [Fact]
    public async Task A_tag_outside_the_newest_n_that_a_client_pulled_stays_until_evicted_and_pulls_offline_meanwhile()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await SyncHarness.StartAsync(configureChild: b => b.Services.AddSingleton<TimeProvider>(time));
        var images = new Dictionary<string, TestBlob>();
        foreach (var tag in (string[])["1.0.0", "1.1.0", "1.2.0", "1.3.0"])
        {
            images[tag] = h.Layout.SimpleImage(tag, layerCount: 1);
            await h.Parent.PushAsync(h.LayoutDir, tag, "apps/web", tag);
        }

        var pin = new StorageSettings { PinPulledWithin = TimeSpan.FromDays(1) };
        h.Configure(["apps/*"], SyncHarness.Idle with { Filters = [new SyncFilterSettings { Repositories = ["apps/*"], Newest = 2 }] }, storage: pin);
        Assert.Empty((await h.RunPassAsync()).Failures);
        Assert.Equal(["1.2.0", "1.3.0"], LocalTags(h));

        // A client pulls two older releases on demand: each is stored with its tag, marked as fetched on demand.
        var content = h.Child.App.Services.GetRequiredService<OnDemandContent>();
        await OnDemandEvictionTests.PullOnDemandAsync(h, content, "apps/web", "1.0.0");
        await OnDemandEvictionTests.PullOnDemandAsync(h, content, "apps/web", "1.1.0");

        // The next pass leaves them (they were removed here before): the on-demand cache's, not the pass's.
        var kept = await h.RunPassAsync();
        Assert.Empty(kept.Failures);
        Assert.Equal(0, kept.TagsRemoved);
        Assert.Equal(["1.0.0", "1.1.0", "1.2.0", "1.3.0"], LocalTags(h));
        Assert.True(content.IsMarked("apps/web", images["1.0.0"].Digest) && content.IsMarked("apps/web", images["1.1.0"].Digest));

        // The parent deletes 1.1.0: gone here too on the next pass, like any synced tag.
        using (var parent = h.ParentClient())
        {
            Assert.True(await parent.DeleteManifestAsync("apps/web", images["1.1.0"].Digest, default));
        }

        var afterDelete = await h.RunPassAsync();
        Assert.Equal(1, afterDelete.TagsRemoved);
        Assert.Equal(["1.0.0", "1.2.0", "1.3.0"], LocalTags(h));

        // With the parent gone, the client pulls 1.0.0 again by tag: manifest and layer from here.
        await h.Parent.StopAsync();
        Assert.Equal(images["1.0.0"].Digest, await OnDemandEvictionTests.PullAsync(h, "apps/web", "1.0.0"));
        var layer = (string)Newtonsoft.Json.Linq.JObject.Parse(System.Text.Encoding.UTF8.GetString(images["1.0.0"].Bytes))["layers"]![0]!["digest"]!;
        using (var blob = await h.Child.Client.GetAsync($"/v2/apps/web/blobs/{layer}"))
        {
            Assert.Equal(HttpStatusCode.OK, blob.StatusCode);
            Assert.Equal(layer, Digest.Compute(await blob.Content.ReadAsByteArrayAsync()).ToString());
        }

        // Once its pin is over and the volume is below the mark, eviction takes the manifest with its tag; a pass keeps
        // it away (the tag is outside the newest 2), and the synced tags stay.
        await h.Parent.StartAsync();
        time.Advance(TimeSpan.FromDays(2));
        h.Configure(["apps/*"], h.Settings.Sync, storage: pin with { EvictBelowFreeBytes = long.MaxValue });
        var eviction = h.Child.App.Services.GetRequiredService<OnDemandEviction>();
        await eviction.EvictAsync(CancellationToken.None);
        await Poll.UntilAsync(() => h.Store.GetManifest("apps/web", images["1.0.0"].Digest.ToString()) is null, "1.0.0 evicted");
        Assert.Empty((await h.RunPassAsync()).Failures);
        Assert.Equal(["1.2.0", "1.3.0"], LocalTags(h));
        StoreVerifier.Verify(h.Child.DataRoot);
    }

    private static List<string> LocalTags(SyncHarness h) => [.. h.Store.ListTags("apps/web").Select(t => t.Tag).Order(StringComparer.Ordinal)];
}
