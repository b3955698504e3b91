using ConnectedRegistry.Bundles;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Bundles;

/// <summary>The state file carries the site's filters (its own and its children's) and export rebuilds the same selection from them.</summary>
public sealed class BundleStateFiltersTests
{
    [Fact]
    public void The_state_file_records_the_filters_in_camel_case_and_reads_them_back_into_the_same_selection()
    {
        var settings = new RegistrySettings
        {
            Sync = new SyncSettings
            {
                Repositories = ["apps/*"],
                Platforms = ["linux/arm64"],
                Filters = [new SyncFilterSettings { Repositories = ["apps/web"], IncludeTags = "^v", Platforms = ["linux/amd64"] }],
            },
            Children = new Dictionary<string, ChildRegistrySettings>
            {
                ["line"] = new() { SyncTokenPasswordHash = "x", Repositories = ["tools/*"], Platforms = ["linux/arm/v7"], Filters = [new SyncFilterSettings { Repositories = ["tools/*"], ExcludeTags = "-dev$" }] },
            },
        };
        var state = new BundleState("site", DateTimeOffset.UnixEpoch, ["apps/*", "tools/*"], new Dictionary<string, IReadOnlyDictionary<string, Digest>>(), new HashSet<Digest>(), BundleFilters.Of(settings));

        var json = state.ToJson();
        var filters = (JObject)JObject.Parse(System.Text.Encoding.UTF8.GetString(json))["filters"]!;
        Assert.Equal(["linux/arm64"], filters["platforms"]!.Select(p => (string)p!));
        Assert.Equal("^v", (string?)filters["filters"]![0]!["includeTags"]);
        Assert.Equal(["linux/amd64"], filters["filters"]![0]!["platforms"]!.Select(p => (string)p!));
        Assert.Equal("-dev$", (string?)filters["children"]![0]!["filters"]![0]!["excludeTags"]);

        var selection = BundleSelection.Of(["apps/*", "tools/*"], BundleState.Parse(json).Filters);
        Assert.Equal(["linux/amd64"], selection.SelectTag("apps/web", "v1").Platforms.Patterns.Select(p => p.ToString()));
        Assert.False(selection.SelectTag("apps/web", "latest").IsSelected);
        Assert.Equal(["linux/arm64"], selection.SelectTag("apps/api", "latest").Platforms.Patterns.Select(p => p.ToString()));
        Assert.Equal(["linux/arm/v7"], selection.SelectTag("tools/cli", "1.0").Platforms.Patterns.Select(p => p.ToString()));
        Assert.False(selection.SelectTag("tools/cli", "1.0-dev").IsSelected);
    }

    [Fact]
    public void A_state_without_filters_selects_every_tag_for_every_platform()
    {
        var json = new BundleState("site", DateTimeOffset.UnixEpoch, ["apps/*"], new Dictionary<string, IReadOnlyDictionary<string, Digest>>(), new HashSet<Digest>()).ToJson();
        var state = BundleState.Parse(json);
        Assert.Null(state.Filters);
        Assert.True(BundleSelection.Of(state.SyncSet, state.Filters).SelectTag("apps/web", "anything").Platforms.IsAll);
    }
}
