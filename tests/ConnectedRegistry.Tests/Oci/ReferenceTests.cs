using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Tests.Oci;

public class ReferenceTests
{
    [Theory]
    [InlineData("latest")]
    [InlineData("v1.2.3-rc_1")]
    [InlineData("_underscore")]
    public void Tags_parse_as_tags(string text)
    {
        Assert.True(Reference.TryParse(text, out var reference));
        Assert.False(reference.IsDigest);
        Assert.Equal(text, reference.Tag);
    }

    [Fact]
    public void Digests_parse_as_digests()
    {
        const string text = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        Assert.True(Reference.TryParse(text, out var reference));
        Assert.True(reference.IsDigest);
        Assert.Equal(text, reference.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("-dash")]
    [InlineData(".dot")]
    [InlineData("sha256:short")]
    [InlineData("has/slash")]
    [InlineData("way-too-long-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public void Invalid_references_are_rejected(string text)
    {
        Assert.False(Reference.TryParse(text, out _));
    }
}
