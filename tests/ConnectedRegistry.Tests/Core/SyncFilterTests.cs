using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Tests.Core;

/// <summary>The sync filter: tag filters per repository pattern (first match applies), platforms, and the union with children.</summary>
public sealed class SyncFilterTests
{
    private static readonly SyncSettings Sync = new()
    {
        Repositories = ["factory/*", "base"],
        Platforms = ["linux/amd64"],
        Filters =
        [
            new SyncFilterSettings { Repositories = ["factory/*"], IncludeTags = @"^v?\d+\.\d+\.\d+", ExcludeTags = "-(rc|dev)", Platforms = ["linux/arm64"] },
            new SyncFilterSettings { Repositories = ["*"], ExcludeTags = "^nightly" },
        ],
    };

    [Theory]
    [InlineData("factory/robot", "v1.2.3", true)]
    [InlineData("factory/robot", "1.2.3", true)]
    [InlineData("factory/robot", "v1.2.3-rc1", false)]
    [InlineData("factory/robot", "v1.2.3-dev", false)]
    [InlineData("factory/robot", "latest", false)]
    [InlineData("base", "latest", true)]
    [InlineData("base", "nightly-2026", false)]
    [InlineData("other", "v1.2.3", false)]
    public void The_first_matching_entry_decides(string repository, string tag, bool selected)
    {
        Assert.Equal(selected, SyncFilter.Own(Sync).Select(repository, tag).IsSelected);
    }

    [Fact]
    public void An_entrys_platforms_apply_else_sync_platforms()
    {
        var filter = SyncFilter.Own(Sync);

        Assert.Equal("linux/arm64", filter.Select("factory/robot", "v1.0.0").Platforms.ToString());
        Assert.Equal("linux/amd64", filter.Select("base", "v1").Platforms.ToString());
    }

    [Fact]
    public void Referrers_tag_schema_tags_pass_any_tag_filter()
    {
        var tag = "sha256-" + new string('a', 64);

        Assert.True(SyncFilter.Own(Sync).Select("factory/robot", tag).IsSelected);
    }

    [Fact]
    public void A_parent_syncs_what_it_or_any_child_selects_for_the_union_of_their_platforms()
    {
        var settings = new RegistrySettings
        {
            Sync = Sync,
            Children = new Dictionary<string, ChildRegistrySettings>
            {
                ["cell-1"] = new() { SyncTokenPasswordHash = "unused", Repositories = ["factory/*"], Platforms = ["linux/arm/v7"], Filters = [new SyncFilterSettings { Repositories = ["*"], IncludeTags = "^latest$" }] },
                ["cell-2"] = new() { SyncTokenPasswordHash = "unused", Repositories = ["base"] },
            },
        };
        var set = SyncSet.Of(settings);

        var latest = set.SelectTag("factory/robot", "latest");
        Assert.True(latest.IsSelected); // only the child wants it
        Assert.Equal("linux/arm/v7", latest.Platforms.ToString());
        Assert.Equal("linux/arm64", set.SelectTag("factory/robot", "v1.0.0").Platforms.ToString()); // only this registry wants it
        Assert.False(set.SelectTag("factory/robot", "v1.0.0-rc1").IsSelected); // nobody wants it
        Assert.True(set.SelectTag("base", "nightly-1").IsSelected); // cell-2 names no filters: every tag
        Assert.True(set.SelectTag("base", "nightly-1").Platforms.IsAll); // and every platform
        Assert.Same(set, SyncSet.Of(settings));
    }

    [Fact]
    public void A_targeted_pass_syncs_only_its_repositories_with_every_filter_that_covers_them()
    {
        var settings = new RegistrySettings
        {
            Sync = Sync,
            Children = new Dictionary<string, ChildRegistrySettings>
            {
                ["cell-1"] = new() { SyncTokenPasswordHash = "unused", Repositories = ["factory/*"], Platforms = ["linux/arm/v7"] },
                ["cell-2"] = new() { SyncTokenPasswordHash = "unused", Repositories = ["tools/*"] },
            },
        };

        var targeted = SyncSet.Targeted(settings, ["factory/robot"]);

        Assert.Equal(["factory/robot"], SyncSet.Of(targeted).Patterns.Select(p => p.Text));
        Assert.Equal(["cell-1"], targeted.Children.Keys);
        var selection = SyncSet.Of(targeted).SelectTag("factory/robot", "v1.0.0");
        Assert.Equal(2, selection.Platforms.Patterns.Count); // this registry's arm64 and the child's arm/v7, as in a full pass
    }

    [Fact]
    public void A_child_that_names_no_filters_selects_every_tag_and_platform_of_its_repositories()
    {
        var child = SyncFilter.Child(new ChildRegistrySettings { SyncTokenPasswordHash = "unused", Repositories = ["factory/*"] });

        Assert.True(child.Select("factory/robot", "nightly").IsSelected);
        Assert.True(child.Select("factory/robot", "nightly").Platforms.IsAll);
        Assert.False(child.Select("other", "v1").IsSelected);
    }

    [Fact]
    public void A_match_that_runs_out_of_time_does_not_select_the_tag()
    {
        var filter = SyncFilter.Own(new SyncSettings
        {
            Repositories = ["slow"],
            Filters = [new SyncFilterSettings { Repositories = ["slow"], IncludeTags = "^(a+)+$" }],
        });

        var selection = filter.Select("slow", new string('a', 64) + "!");

        Assert.Equal(TagMatch.TimedOut, selection.Match);
        Assert.False(selection.IsSelected);
    }

    [Theory]
    [InlineData("^v(", "is not a valid regular expression")]
    [InlineData("[a-", "is not a valid regular expression")]
    public void Bad_expressions_are_reported_with_the_reason(string pattern, string reason)
    {
        Assert.StartsWith(reason, SyncFilter.TagPatternError(pattern), StringComparison.Ordinal);
        Assert.Null(SyncFilter.TagPatternError(@"^v\d+$"));
    }
}
