using ConnectedRegistry.Bundles;

namespace ConnectedRegistry.Tests.Bundles;

/// <summary>The direct methods read and write only inside the data volume: no traversal, no absolute path elsewhere, no link out.</summary>
public sealed class BundlePathsTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("bundle-paths").FullName;
    private readonly string _outside = Directory.CreateTempSubdirectory("bundle-outside").FullName;

    [Fact]
    public void Paths_inside_the_data_volume_resolve()
    {
        Assert.Equal(Path.Combine(_root, "bundles", "site.tar"), BundlePaths.Resolve(_root, "bundles/site.tar", out _));
        Assert.Equal(Path.Combine(_root, "site.tar"), BundlePaths.Resolve(_root, Path.Combine(_root, "x", "..", "site.tar"), out _));
    }

    [Theory]
    [InlineData("../site.tar")]
    [InlineData("bundles/../../site.tar")]
    [InlineData("/etc/passwd")]
    [InlineData("")]
    [InlineData(".")]
    public void Paths_outside_the_data_volume_are_refused(string path)
    {
        Assert.Null(BundlePaths.Resolve(_root, path, out var reason));
        Assert.NotEmpty(reason);
    }

    [Fact]
    public void A_link_that_leads_outside_is_refused()
    {
        File.WriteAllText(Path.Combine(_outside, "secret.tar"), "x");
        Directory.CreateSymbolicLink(Path.Combine(_root, "bundles"), _outside);
        Assert.Null(BundlePaths.Resolve(_root, "bundles/secret.tar", out var reason));
        Assert.Contains("through a link", reason, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        Directory.Delete(_outside, recursive: true);
    }
}
