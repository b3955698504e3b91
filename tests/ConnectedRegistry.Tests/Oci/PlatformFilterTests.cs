using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Tests.Oci;

/// <summary>Platform patterns and the entries of an index a platform filter keeps.</summary>
public sealed class PlatformFilterTests
{
    private static readonly Digest Amd = Digest.Compute("amd64"u8);
    private static readonly Digest Arm64 = Digest.Compute("arm64"u8);
    private static readonly Digest Arm7 = Digest.Compute("arm/v7"u8);

    private static Descriptor Image(Digest digest, string os, string architecture, string? variant = null) =>
        new(MediaTypes.OciManifest, digest, 100, Platform: new DescriptorPlatform(os, architecture, variant));

    private static Descriptor Attestation(string seed, Digest describes) =>
        new(MediaTypes.OciManifest, Digest.Compute(System.Text.Encoding.UTF8.GetBytes(seed)), 50,
            Annotations: new Dictionary<string, string> { ["vnd.docker.reference.type"] = "attestation-manifest", [PlatformFilter.ReferenceDigestAnnotation] = describes.ToString() },
            Platform: new DescriptorPlatform("unknown", "unknown", null));

    private static readonly Descriptor[] ThreePlatforms =
    [
        Image(Amd, "linux", "amd64"), Image(Arm64, "linux", "arm64"), Image(Arm7, "linux", "arm", "v7"),
        Attestation("att-amd", Amd), Attestation("att-arm64", Arm64), Attestation("att-arm7", Arm7),
    ];

    [Theory]
    [InlineData("linux/arm64", "linux", "arm64", null, true)]
    [InlineData("linux/arm64", "linux", "arm64", "v8", true)]
    [InlineData("linux/arm64/v8", "linux", "arm64", null, true)]
    [InlineData("linux/arm64", "linux", "aarch64", null, true)]
    [InlineData("linux/amd64", "linux", "x86_64", null, true)]
    [InlineData("linux/amd64", "linux", "arm64", null, false)]
    [InlineData("linux/arm/v7", "linux", "arm", "v7", true)]
    [InlineData("linux/arm/v7", "linux", "arm", null, true)]
    [InlineData("linux/arm/v7", "linux", "arm", "v6", false)]
    [InlineData("linux/arm", "linux", "arm", "v6", true)]
    [InlineData("linux/arm64", "windows", "arm64", null, false)]
    public void A_pattern_matches_platforms_as_containerd_normalises_them(string pattern, string os, string architecture, string? variant, bool matches)
    {
        Assert.True(Platform.TryParse(pattern, out var parsed));

        Assert.Equal(matches, parsed.Matches(Platform.Of(new DescriptorPlatform(os, architecture, variant))!));
    }

    [Theory]
    [InlineData("linux")]
    [InlineData("linux/")]
    [InlineData("Linux/ARM64")]
    [InlineData("linux/arm64/v8/extra")]
    [InlineData("linux arm64")]
    [InlineData("")]
    public void Malformed_platforms_do_not_parse(string text) => Assert.False(Platform.TryParse(text, out _));

    [Fact]
    public void Arm64_keeps_its_image_and_the_attestation_that_describes_it_only()
    {
        var selection = PlatformFilter.Of(["linux/arm64"]).Select(ThreePlatforms);

        Assert.Equal([Arm64, ThreePlatforms[4].Digest], selection.Selected.Select(d => d.Digest));
        Assert.Equal([Amd, Arm7, ThreePlatforms[3].Digest, ThreePlatforms[5].Digest], selection.LeftOut.Select(d => d.Digest));
    }

    [Fact]
    public void No_patterns_keep_every_entry()
    {
        var selection = PlatformFilter.Of([]).Select(ThreePlatforms);

        Assert.Equal(ThreePlatforms, selection.Selected);
        Assert.Empty(selection.LeftOut);
    }

    [Fact]
    public void Entries_without_a_platform_that_describe_nothing_are_kept()
    {
        var artifact = new Descriptor(MediaTypes.OciManifest, Digest.Compute("sbom"u8), 10);
        var nested = new Descriptor(MediaTypes.OciIndex, Digest.Compute("nested"u8), 10);
        var unknownAlone = new Descriptor(MediaTypes.OciManifest, Digest.Compute("u"u8), 10, Platform: new DescriptorPlatform("unknown", "unknown", null));

        var selection = PlatformFilter.Of(["linux/arm64"]).Select([Image(Amd, "linux", "amd64"), artifact, nested, unknownAlone]);

        Assert.Equal([artifact, nested, unknownAlone], selection.Selected);
    }

    [Fact]
    public void The_union_keeps_what_any_filter_keeps_and_all_wins()
    {
        var union = PlatformFilter.Union([PlatformFilter.Of(["linux/arm64"]), PlatformFilter.Of(["linux/arm/v7"])]);

        Assert.Equal([Arm64, Arm7], union.Select(ThreePlatforms).Selected.Where(d => d.Platform!.Os == "linux").Select(d => d.Digest));
        Assert.True(PlatformFilter.Union([PlatformFilter.Of(["linux/arm64"]), PlatformFilter.All]).IsAll);
    }

    [Fact]
    public void The_parser_reads_an_entrys_platform_and_tolerates_a_malformed_one()
    {
        var index = """
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000001","size":1,"platform":{"os":"linux","architecture":"arm","variant":"v7"}},
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000002","size":1,"platform":"linux/arm64"}]}
            """u8;

        var parsed = ManifestParser.Parse(index, null);

        Assert.Equal(new DescriptorPlatform("linux", "arm", "v7"), parsed.Manifests[0].Platform);
        Assert.Null(parsed.Manifests[1].Platform);
    }
}
