using ConnectedRegistry.Core;

namespace ConnectedRegistry.Tests.Core;

/// <summary>Tags read as semantic versions for <c>newest</c>: SemVer 2.0 precedence, a <c>v</c> prefix, short forms, and tags that are no versions.</summary>
public sealed class TagVersionTests
{
    [Theory]
    [InlineData("1.0.0", "2.0.0")]
    [InlineData("1.2.0", "1.10.0")] // numerically, not lexically
    [InlineData("1.0.9", "1.0.10")]
    [InlineData("2.0.0-rc.1", "2.0.0")] // a pre-release below its release
    [InlineData("1.10.0", "2.0.0-rc.1")] // but above the release before
    [InlineData("1.0.0-alpha", "1.0.0-alpha.1")]
    [InlineData("1.0.0-alpha.1", "1.0.0-alpha.beta")] // numeric identifiers below alphanumeric ones
    [InlineData("1.0.0-alpha.beta", "1.0.0-beta")]
    [InlineData("1.0.0-beta.2", "1.0.0-beta.11")] // numeric identifiers numerically
    [InlineData("1.0.0-beta.11", "1.0.0-rc.1")]
    [InlineData("v1.9", "1.10")] // v prefix, MAJOR.MINOR
    [InlineData("1", "v1.0.1")] // MAJOR alone is MAJOR.0.0
    public void Versions_follow_semver_precedence(string older, string newer)
    {
        var a = TagVersion.TryParse(older)!;
        var b = TagVersion.TryParse(newer)!;

        Assert.True(a.CompareTo(b) < 0, $"{older} < {newer}");
        Assert.True(b.CompareTo(a) > 0, $"{newer} > {older}");
    }

    [Theory]
    [InlineData("1.0.0", "v1.0.0")]
    [InlineData("1", "1.0.0")]
    [InlineData("1.2", "V1.2.0")]
    [InlineData("1.0.0+build.5", "1.0.0")] // build metadata is ignored
    public void Equal_versions_compare_equal(string a, string b)
    {
        Assert.Equal(0, TagVersion.TryParse(a)!.CompareTo(TagVersion.TryParse(b)));
    }

    [Theory]
    [InlineData("latest")]
    [InlineData("nightly-2026")]
    [InlineData("1.2.3.4")]
    [InlineData("v")]
    [InlineData("1.2.x")]
    [InlineData("sha256-abc")]
    public void Other_tags_are_no_versions(string tag)
    {
        Assert.Null(TagVersion.TryParse(tag));
    }

    [Fact]
    public void Newest_first_puts_versions_by_precedence_then_other_tags_in_the_parents_order()
    {
        string[] parentOrder = ["1.0.0", "1.10.0", "1.2.0", "2.0.0", "2.0.0-rc.1", "edge", "latest", "v1.0.0"];

        Assert.Equal(["2.0.0", "2.0.0-rc.1", "1.10.0", "1.2.0", "1.0.0", "v1.0.0", "edge", "latest"], TagVersion.NewestFirst(parentOrder));
    }
}
