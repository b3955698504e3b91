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

    private static readonly string[] ParentTags = ["1.0.0", "1.10.0", "1.2.0", "2.0.0", "2.0.0-rc.1", "latest", "sha256-" + "a1b2c3d4e5f6a7b8" + "a1b2c3d4e5f6a7b8" + "a1b2c3d4e5f6a7b8" + "a1b2c3d4e5f6a7b8"];

    private static List<string> Kept(Dictionary<string, TagSelection> selections) =>
        [.. ParentTags.Where(t => selections[t].IsSelected)];

    [Fact]
    public void Newest_keeps_the_newest_n_of_what_the_expressions_select()
    {
        var filter = SyncFilter.Own(new SyncSettings { Repositories = ["app", "other"], Filters = [new SyncFilterSettings { Repositories = ["app"], Newest = 3 }] });

        var selections = filter.SelectTags("app", ParentTags);

        Assert.Equal(["1.10.0", "2.0.0", "2.0.0-rc.1", ParentTags[^1]], Kept(selections)); // the referrers tag is kept and not counted
        Assert.Equal(TagMatch.NotNewest, selections["1.2.0"].Match);
        Assert.Equal(TagMatch.NotNewest, selections["latest"].Match); // no version: older than every version
        Assert.Equal(ParentTags.Length, Kept(filter.SelectTags("other", ParentTags)).Count); // no entry for it: every tag
        Assert.True(filter.Select("app", "1.0.0").IsSelected); // one tag alone: the count needs the whole list
    }

    [Fact]
    public void Newest_counts_what_remains_after_include_and_exclude()
    {
        var filter = SyncFilter.Own(new SyncSettings
        {
            Repositories = ["app"],
            Filters = [new SyncFilterSettings { Repositories = ["app"], IncludeTags = @"^\d", ExcludeTags = "-rc", Newest = 2 }],
        });

        var selections = filter.SelectTags("app", ParentTags);

        Assert.Equal(["1.10.0", "2.0.0", ParentTags[^1]], Kept(selections));
        Assert.Equal(TagMatch.NotSelected, selections["2.0.0-rc.1"].Match); // excluded, not counted out: left as it is
        Assert.Equal(TagMatch.NotSelected, selections["latest"].Match);
        Assert.Equal(TagMatch.NotNewest, selections["1.2.0"].Match);
    }

    [Fact]
    public void A_parent_keeps_the_largest_count_of_its_children_and_everything_for_a_child_without_one()
    {
        ChildRegistrySettings Child(int? newest) => new()
        {
            SyncTokenPasswordHash = "unused",
            Repositories = ["app"],
            Filters = newest is null ? [] : [new SyncFilterSettings { Repositories = ["app"], Newest = newest }],
        };
        RegistrySettings Parent(params int?[] counts) => new()
        {
            Sync = new SyncSettings { Repositories = ["app"], Filters = [new SyncFilterSettings { Repositories = ["app"], Newest = 1 }] },
            Children = counts.Select((c, i) => (c, i)).ToDictionary(x => $"cell-{x.i}", x => Child(x.c)),
        };

        var four = SyncSet.Of(Parent(4, 2)).SelectTags("app", ParentTags);
        Assert.Equal(["1.10.0", "1.2.0", "2.0.0", "2.0.0-rc.1", ParentTags[^1]], Kept(four)); // newest 4, the larger count
        Assert.Equal(TagMatch.NotNewest, four["1.0.0"].Match);
        Assert.Equal(ParentTags.Length, Kept(SyncSet.Of(Parent(2, null)).SelectTags("app", ParentTags)).Count); // a child without a count: everything
        Assert.Equal(2, Kept(SyncSet.Of(Parent()).SelectTags("app", ParentTags)).Count); // alone: its own newest 1 and the referrers tag
    }
}
