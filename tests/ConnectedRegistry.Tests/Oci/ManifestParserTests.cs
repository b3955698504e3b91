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

public class ManifestParserHardeningTests
{
    private const string Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    private static string Manifest(string schemaVersion = "2", string configSize = "2", string layerSize = "0") =>
        $$"""{"schemaVersion":{{schemaVersion}},"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{{Digest}}","size":{{configSize}}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{{Digest}}","size":{{layerSize}}}]}""";

    private static ManifestFormatException Refused(byte[] content) =>
        Assert.Throws<ManifestFormatException>(() => ManifestParser.Parse(content, null));

    private static ManifestFormatException Refused(string json) => Refused(Encoding.UTF8.GetBytes(json));

    [Theory]
    [InlineData("99999999999999999999")]
    [InlineData("-99999999999999999999")]
    [InlineData("18446744073709551616")]
    public void A_schema_version_beyond_64_bits_is_a_format_error(string number)
    {
        Assert.Equal("schemaVersion must be 2", Refused(Manifest(schemaVersion: number)).Message);
    }

    [Theory]
    [InlineData("99999999999999999999")]
    [InlineData("9223372036854775808")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("1e3")]
    public void A_descriptor_size_beyond_64_bits_or_not_a_count_is_a_format_error(string size)
    {
        Assert.Equal("config.size must be a non-negative integer", Refused(Manifest(configSize: size)).Message);
        Assert.Equal("layers[0].size must be a non-negative integer", Refused(Manifest(layerSize: size)).Message);
    }

    [Fact]
    public void The_largest_64_bit_size_is_still_a_size()
    {
        Assert.Equal(long.MaxValue, ManifestParser.Parse(Encoding.UTF8.GetBytes(Manifest(configSize: "9223372036854775807")), null).Config!.Size);
    }

    [Theory]
    [InlineData(new byte[] { 0xFF })]
    [InlineData(new byte[] { 0xC3, 0x28 })]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })]
    [InlineData(new byte[] { 0xC0, 0xAF })]
    public void Bytes_that_are_not_utf8_are_refused(byte[] bad)
    {
        // Inside a string value, where a lenient decoder would quietly turn them into U+FFFD.
        var json = Manifest().Replace("\"mediaType\":\"application/vnd.oci.empty.v1+json\"", "\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"annotations\":{\"a\":\"@\"}", StringComparison.Ordinal);
        var bytes = Encoding.UTF8.GetBytes(json).ToList();
        var at = bytes.IndexOf((byte)'@');
        bytes.RemoveAt(at);
        bytes.InsertRange(at, bad);
        Assert.StartsWith("manifest is not valid UTF-8 JSON", Refused([.. bytes]).Message);
    }

    [Theory]
    [InlineData("/* c */")]
    [InlineData("// c\n")]
    public void Comments_are_refused_anywhere(string comment)
    {
        Assert.StartsWith("manifest is not valid UTF-8 JSON", Refused(comment + Manifest()).Message);
        Assert.StartsWith("manifest is not valid UTF-8 JSON", Refused(Manifest() + comment).Message);
        Assert.StartsWith("manifest is not valid UTF-8 JSON", Refused(Manifest().Replace("\"layers\"", comment + "\"layers\"", StringComparison.Ordinal)).Message);
    }

    [Theory]
    [InlineData("{'schemaVersion':2}")]
    [InlineData("{schemaVersion:2}")]
    [InlineData("{\"schemaVersion\":2,}")]
    [InlineData("{\"schemaVersion\":NaN}")]
    [InlineData("\uFEFF{\"schemaVersion\":2}")]
    public void Json_that_only_a_lenient_parser_reads_is_refused(string json)
    {
        Assert.StartsWith("manifest is not valid UTF-8 JSON", Refused(json).Message);
    }

    // What the JSON.NET reader did beyond the strict reader, kept when the parser moved to one System.Text.Json read.

    [Fact]
    public void A_name_given_twice_counts_with_its_last_value()
    {
        var parsed = ManifestParser.Parse(Encoding.UTF8.GetBytes("""{"schemaVersion":1,"schemaVersion":2,"manifests":[],"annotations":{"a":1,"b":"x","a":"y"}}"""), null);

        Assert.True(parsed.IsIndex);
        Assert.Equal(["a", "b"], parsed.Annotations!.Keys);
        Assert.Equal("y", parsed.Annotations["a"]);
    }

    [Fact]
    public void Escapes_resolve_and_an_escaped_lone_surrogate_reads_as_the_replacement_character()
    {
        var parsed = ManifestParser.Parse(Encoding.UTF8.GetBytes("""{"schema\u0056ersion":2,"manifests":[],"annotations":{"\ud800":"\ud83d\ude00\n\udc00\ud800\u0041"}}"""), null);

        Assert.Equal("\U0001F600\n\uFFFD\uFFFDA", parsed.Annotations!["\uFFFD"]);
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("1e29")]
    [InlineData("123456789012345678901234567890.5")]
    public void A_number_that_fits_no_decimal_is_refused_anywhere(string number)
    {
        Assert.StartsWith("manifest is not valid JSON", Refused("{\"schemaVersion\":2,\"manifests\":[],\"x\":[" + number + "]}").Message);
    }

    [Fact]
    public void A_tiny_number_or_a_huge_integer_outside_the_fields_read_is_accepted()
    {
        Assert.True(ManifestParser.Parse(Encoding.UTF8.GetBytes("""{"schemaVersion":2,"manifests":[],"x":[1e-400,99999999999999999999999999999999]}"""), null).IsIndex);
    }
}
