using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;

namespace ConnectedRegistry.Tests.Twin;

/// <summary><c>sync.platforms</c>, <c>sync.filters</c> and a child's <c>platforms</c>/<c>filters</c>: what is accepted, and every reason a bad one is not.</summary>
public sealed class SyncFilterParserTests
{
    private const string Hash = "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=";

    private static DesiredParseResult Parse(string json) => DesiredPropertiesParser.Parse(TwinJson.ParseObject(json));

    [Fact]
    public void The_issue_example_parses()
    {
        var result = Parse("""
            { "sync": { "repositories": ["factory/*"], "platforms": ["linux/amd64"],
                        "filters": [{"repositories": ["factory/*"], "includeTags": "^v?\\d+\\.\\d+\\.\\d+$", "excludeTags": "-(rc|dev)", "platforms": ["linux/arm64"]}] } }
            """);

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        Assert.Empty(result.Warnings);
        var sync = result.Settings!.Sync;
        Assert.Equal(["linux/amd64"], sync.Platforms);
        var filter = Assert.Single(sync.Filters);
        Assert.Equal(["factory/*"], filter.Repositories);
        Assert.Equal(@"^v?\d+\.\d+\.\d+$", filter.IncludeTags);
        Assert.Equal("-(rc|dev)", filter.ExcludeTags);
        Assert.Equal(["linux/arm64"], filter.Platforms);
    }

    [Fact]
    public void Without_filters_every_tag_and_platform_is_synced()
    {
        var sync = Parse("""{ "sync": { "repositories": ["a"] } }""").Settings!.Sync;

        Assert.Empty(sync.Platforms);
        Assert.Empty(sync.Filters);
    }

    [Fact]
    public void Every_bad_member_is_its_own_reason()
    {
        var result = Parse("""
            { "sync": { "repositories": ["a"], "platforms": ["linux", "linux/arm64", 7],
                        "filters": [
                          {"repositories": ["a"], "includeTags": "^v(", "excludeTags": "[a-"},
                          {"includeTags": "x"},
                          {"repositories": ["Bad Name"], "platforms": "linux/arm64"},
                          "nope"] } }
            """);

        Assert.False(result.IsValid);
        Assert.Equal(
            [
                "sync.platforms[0] 'linux' is not a platform 'os/architecture[/variant]' (lower case, e.g. 'linux/arm64' or 'linux/arm/v7')",
                "sync.platforms[2] '7' must be a string",
                "sync.filters[0].includeTags '^v(' is not a valid regular expression: " + RegexMessage("^v("),
                "sync.filters[0].excludeTags '[a-' is not a valid regular expression: " + RegexMessage("[a-"),
                "sync.filters[1].repositories is required: an array of repository names or patterns ('prefix/*', '*')",
                "sync.filters[2].repositories[0] 'Bad Name' is not a repository name, a 'prefix/*' wildcard or '*'",
                "sync.filters[2].platforms must be an array of platforms such as 'linux/arm64'",
                "sync.filters[3] must be an object",
            ],
            result.Errors);
    }

    [Fact]
    public void A_childs_platforms_and_filters_are_read_and_checked_like_the_registrys()
    {
        var result = Parse($$"""
            { "children": { "cell-line-1": { "syncTokenPasswordHash": "{{Hash}}", "repositories": ["factory/*"],
                                              "platforms": ["linux/arm/v7"], "filters": [{"repositories": ["*"], "excludeTags": "nightly"}] } } }
            """);

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        var child = result.Settings!.Children["cell-line-1"];
        Assert.Equal(["linux/arm/v7"], child.Platforms);
        Assert.Equal("nightly", Assert.Single(child.Filters).ExcludeTags);

        var bad = Parse($$"""{ "children": { "cell-line-1": { "syncTokenPasswordHash": "{{Hash}}", "repositories": ["a"], "filters": [{"repositories": ["a"], "includeTags": "(" }] } } }""");
        Assert.Equal(["children.cell-line-1.filters[0].includeTags '(' is not a valid regular expression: " + RegexMessage("(")], bad.Errors);
    }

    [Fact]
    public void Unknown_members_of_a_filter_are_warnings_and_case_variants_errors()
    {
        var result = Parse("""{ "sync": { "repositories": ["a"], "filters": [{"repositories": ["a"], "semver": true}] } }""");
        Assert.Equal(["sync.filters[0].semver"], result.Warnings);

        var wrongCase = Parse("""{ "sync": { "repositories": ["a"], "filters": [{"repositories": ["a"], "IncludeTags": "^v"}] } }""");
        Assert.Contains("'sync.filters[0].IncludeTags' is not a member; did you mean 'sync.filters[0].includeTags'? (member names are case-sensitive)", wrongCase.Errors);
    }

    [Fact]
    public void Newest_is_a_whole_number_from_1_to_10000()
    {
        var result = Parse($$"""
            { "sync": { "repositories": ["a"], "filters": [{"repositories": ["a"], "includeTags": "^v", "newest": 3}, {"repositories": ["b"], "newest": 10000}] },
              "children": { "cell-line-1": { "syncTokenPasswordHash": "{{Hash}}", "repositories": ["a"], "filters": [{"repositories": ["a"], "newest": 10}] } } }
            """);

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        Assert.Empty(result.Warnings);
        Assert.Equal([3, 10000], result.Settings!.Sync.Filters.Select(f => f.Newest));
        Assert.Equal(10, Assert.Single(result.Settings.Children["cell-line-1"].Filters).Newest);
        Assert.Null(Parse("""{ "sync": { "repositories": ["a"], "filters": [{"repositories": ["a"]}] } }""").Settings!.Sync.Filters[0].Newest);

        var bad = Parse($$"""
            { "sync": { "repositories": ["a"], "filters": [{"repositories": ["a"], "newest": 0}, {"repositories": ["a"], "newest": 10001},
                                                           {"repositories": ["a"], "newest": 2.5}, {"repositories": ["a"], "newest": "3"}] },
              "children": { "cell-line-1": { "syncTokenPasswordHash": "{{Hash}}", "repositories": ["a"], "filters": [{"repositories": ["a"], "newest": -1}] } } }
            """);
        Assert.Equal(
            [
                "sync.filters[0].newest '0' must be a whole number from 1 to 10000",
                "sync.filters[1].newest '10001' must be a whole number from 1 to 10000",
                "sync.filters[2].newest '2.5' must be a whole number from 1 to 10000",
                "sync.filters[3].newest '\"3\"' must be a whole number from 1 to 10000",
                "children.cell-line-1.filters[0].newest '-1' must be a whole number from 1 to 10000",
            ],
            bad.Errors);
    }

    private static string RegexMessage(string pattern)
    {
        try
        {
            _ = new System.Text.RegularExpressions.Regex(pattern);
            return "";
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
    }
}
