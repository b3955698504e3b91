using System.Text;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Tests.Oci;

public class ManifestParserTests
{
    private const string ConfigDigest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    private const string LayerDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    private static ParsedManifest Parse(string json, string? contentType = null) => ManifestParser.Parse(Encoding.UTF8.GetBytes(json), contentType);

    [Fact]
    public void Oci_image_manifest_yields_config_layers_subject_and_artifact_type()
    {
        var parsed = Parse($$$"""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example",
             "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{{{ConfigDigest}}}","size":2},
             "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{{{LayerDigest}}}","size":0}],
             "subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{LayerDigest}}}","size":10},
             "annotations":{"a":"b"}}
            """);

        Assert.Equal(MediaTypes.OciManifest, parsed.MediaType);
        Assert.Equal(ConfigDigest, parsed.Config!.Digest.ToString());
        Assert.Equal([ConfigDigest, LayerDigest], parsed.RequiredBlobs.Select(b => b.Digest.ToString()));
        Assert.Equal(LayerDigest, parsed.Subject!.Digest.ToString());
        Assert.Equal("application/vnd.example", parsed.EffectiveArtifactType);
        Assert.Equal("b", parsed.Annotations!["a"]);
    }

    [Fact]
    public void Artifact_type_defaults_to_the_config_media_type()
    {
        var parsed = Parse($$$"""{"schemaVersion":2,"config":{"mediaType":"application/vnd.example.config","digest":"{{{ConfigDigest}}}","size":2},"layers":[]}""", MediaTypes.OciManifest);

        Assert.Equal("application/vnd.example.config", parsed.EffectiveArtifactType);
    }

    [Fact]
    public void Index_lists_child_manifests_and_needs_no_blobs()
    {
        var parsed = Parse($$$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{LayerDigest}}}","size":5,"platform":{"os":"linux","architecture":"arm64"}}]}""");

        Assert.True(parsed.IsIndex);
        Assert.Empty(parsed.RequiredBlobs);
        Assert.Equal(LayerDigest, Assert.Single(parsed.Manifests).Digest.ToString());
    }

    [Fact]
    public void Media_type_is_taken_from_content_type_when_the_body_has_none()
    {
        var parsed = Parse($$$"""{"schemaVersion":2,"manifests":[]}""", MediaTypes.OciIndex);
        Assert.Equal(MediaTypes.OciIndex, parsed.MediaType);
    }

    [Fact]
    public void Foreign_layers_with_urls_are_not_required_blobs()
    {
        var parsed = Parse($$$"""
            {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
             "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{{{ConfigDigest}}}","size":2},
             "layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"{{{LayerDigest}}}","size":1,"urls":["https://example.invalid/layer"]}]}
            """);

        Assert.Equal([ConfigDigest], parsed.RequiredBlobs.Select(b => b.Digest.ToString()));
    }

    [Theory]
    [InlineData("{")]
    [InlineData("{} {}")]
    [InlineData("\"text\"")]
    [InlineData("{\"schemaVersion\":\"2\",\"manifests\":[]}")]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+json\"}")]
    [InlineData("{\"schemaVersion\":2,\"layers\":[]}")]
    [InlineData("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:00\",\"size\":1}}")]
    [InlineData("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" + ConfigDigest + "\",\"size\":-1}}")]
    [InlineData("{\"schemaVersion\":2,\"config\":{\"digest\":\"" + ConfigDigest + "\",\"size\":1}}")]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":{}}")]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[],\"layers\":[]}")]
    [InlineData("{\"schemaVersion\":2,\"manifests\":[],\"annotations\":{\"a\":1}}")]
    public void Invalid_manifests_are_rejected(string json)
    {
        Assert.Throws<ManifestFormatException>(() => Parse(json));
    }

    [Fact]
    public void Body_media_type_must_agree_with_content_type()
    {
        Assert.Throws<ManifestFormatException>(() => Parse("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}""", MediaTypes.DockerManifestList));
        Assert.Throws<ManifestFormatException>(() => Parse("""{"schemaVersion":2,"manifests":[]}""", "application/vnd.example.unknown"));
    }

    [Fact]
    public void Docker_types_must_name_themselves_in_the_body()
    {
        Assert.Throws<ManifestFormatException>(() => Parse("""{"schemaVersion":2,"manifests":[]}""", MediaTypes.DockerManifestList));
    }
}
