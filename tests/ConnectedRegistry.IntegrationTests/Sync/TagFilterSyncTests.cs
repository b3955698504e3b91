using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// <c>sync.filters</c> against a real docker-registry parent: <c>includeTags</c>/<c>excludeTags</c> move exactly the
/// tags they select; a tag that stops matching stays as it is here (no longer synced, not removed); local pushes are
/// never filtered.
/// </summary>
public sealed class TagFilterSyncTests
{
    [Fact]
    public async Task Include_and_exclude_move_exactly_the_tags_they_select()
    {
        await using var h = await SyncHarness.StartAsync();
        string[] tags = ["v1.0.0", "1.2.3", "v1.1.0-rc1", "v2.0.0-dev", "nightly", "latest"];
        var image = h.Layout.SimpleImage("image", layerCount: 1);
        foreach (var tag in tags)
        {
            await h.Parent.PushAsync(h.LayoutDir, "image", "factory/robot", tag);
        }

        await h.Parent.PushAsync(h.LayoutDir, "image", "base", "nightly");
        var filters = new SyncFilterSettings { Repositories = ["factory/*"], IncludeTags = @"^v?\d+\.\d+\.\d+", ExcludeTags = "-(rc|dev)" };
        h.Configure(["factory/*", "base"], SyncHarness.Idle with { Filters = [filters] });

        var result = await h.RunPassAsync();

        Assert.Empty(result.Failures);
        Assert.Equal(["1.2.3", "v1.0.0"], h.Store.ListTags("factory/robot").Select(t => t.Tag));
        Assert.Equal(["nightly"], h.Store.ListTags("base").Select(t => t.Tag)); // no entry for it: every tag

        // A tag that stops matching is no longer synced, and what was synced stays; one that starts matching comes.
        var moved = h.Layout.SimpleImage("moved", layerCount: 1);
        await h.Parent.PushAsync(h.LayoutDir, "moved", "factory/robot", "v1.0.0");
        h.Configure(["factory/*", "base"], SyncHarness.Idle with { Filters = [filters with { IncludeTags = "^latest$", ExcludeTags = null }] });
        await h.RunPassAsync();
        Assert.Equal(["1.2.3", "latest", "v1.0.0"], h.Store.ListTags("factory/robot").Select(t => t.Tag));
        Assert.Equal(image.Digest, h.Store.GetManifest("factory/robot", "v1.0.0")!.Digest); // not moved: no longer selected

        // A client's push is never filtered (an image of its own: blobs the parent has would be answered by on-demand fetch).
        h.Layout.SimpleImage("local", layerCount: 1);
        await Skopeo.RunAsync(["copy", "--quiet", "--dest-tls-verify=false", $"oci:{h.LayoutDir}:local", $"docker://{h.Child.HostPort}/factory/robot:local-nightly"]);
        Assert.Contains("local-nightly", h.Store.ListTags("factory/robot").Select(t => t.Tag));
    }
}
