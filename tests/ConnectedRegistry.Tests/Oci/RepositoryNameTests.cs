using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Tests.Oci;

public class RepositoryNameTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("library/alpine")]
    [InlineData("a/b/c")]
    [InlineData("azureiotedge-agent")]
    [InlineData("my_repo.name/x__y")]
    [InlineData("a--b")]
    public void Accepts_spec_grammar(string name) => Assert.True(RepositoryName.IsValid(name));

    [Theory]
    [InlineData("")]
    [InlineData("../x")]
    [InlineData("a/../b")]
    [InlineData("/a")]
    [InlineData("a/")]
    [InlineData("Upper")]
    [InlineData("a//b")]
    [InlineData("a___b")]
    [InlineData("-a")]
    [InlineData("a.")]
    [InlineData("a b")]
    public void Rejects_outside_grammar(string name) => Assert.False(RepositoryName.IsValid(name));

    [Fact]
    public void Rejects_names_longer_than_255() => Assert.False(RepositoryName.IsValid(new string('a', 256)));

    [Theory]
    [InlineData("latest", true)]
    [InlineData("v1.0.0-rc_1", true)]
    [InlineData("_x", true)]
    [InlineData(".x", false)]
    [InlineData("-x", false)]
    [InlineData("a:b", false)]
    public void Tag_grammar(string tag, bool valid) => Assert.Equal(valid, Tag.IsValid(tag));
}
