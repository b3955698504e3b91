using System.Formats.Tar;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A multi-platform image as buildx makes it: an OCI index with one image per platform (real uncompressed tar
/// layers, so the Docker engine can pull it) and, per image, an attestation manifest (platform <c>unknown/unknown</c>,
/// annotations <c>vnd.docker.reference.type: attestation-manifest</c> and <c>vnd.docker.reference.digest</c>).
/// </summary>
public sealed class MultiPlatformImage
{
    public const string AttestationType = "attestation-manifest";

    private MultiPlatformImage(TestBlob index, IReadOnlyDictionary<string, TestImage> images, IReadOnlyDictionary<string, TestImage> attestations)
    {
        Index = index;
        Images = images;
        Attestations = attestations;
    }

    public TestBlob Index { get; }

    /// <summary>The image of each platform, by <c>os/arch[/variant]</c>.</summary>
    public IReadOnlyDictionary<string, TestImage> Images { get; }

    /// <summary>The attestation of each platform's image, by the image's platform.</summary>
    public IReadOnlyDictionary<string, TestImage> Attestations { get; }

    /// <summary>Bytes of the blobs (configs and layers) of one platform: its image's and its attestation's.</summary>
    public long BlobBytes(string platform) => Images[platform].Blobs.Concat(Attestations[platform].Blobs).Sum(b => b.Size);

    /// <summary>An index for <paramref name="platforms"/> (<c>os/arch[/variant]</c>), each image with one layer of about <paramref name="layerSize"/> bytes.</summary>
    public static MultiPlatformImage Create(string seed, IReadOnlyList<string> platforms, int layerSize = 8192)
    {
        var images = new Dictionary<string, TestImage>(StringComparer.Ordinal);
        var attestations = new Dictionary<string, TestImage>(StringComparer.Ordinal);
        var entries = new JArray();
        foreach (var platform in platforms)
        {
            var parts = platform.Split('/');
            var layer = new TestBlob(Tar($"{seed}-{platform}", layerSize), TestContent.LayerType);
            var config = new JObject
            {
                ["architecture"] = parts[1],
                ["os"] = parts[0],
                ["created"] = "2026-01-01T00:00:00Z",
                ["config"] = new JObject { ["Cmd"] = new JArray("/payload") },
                ["rootfs"] = new JObject { ["type"] = "layers", ["diff_ids"] = new JArray(layer.Digest.ToString()) },
            };
            if (parts.Length == 3)
            {
                config["variant"] = parts[2];
            }

            var image = Manifest(new TestBlob(TestContent.Json(config), MediaTypes.OciConfig), layer);
            var statement = new TestBlob(TestContent.Json(new { _type = "https://in-toto.io/Statement/v0.1", subject = new[] { new { name = seed, digest = new { sha256 = image.Manifest.Digest.Hex } } }, predicateType = "https://slsa.dev/provenance/v0.2" }), "application/vnd.in-toto+json");
            var attestationConfig = new TestBlob(TestContent.Json(new { architecture = "unknown", os = "unknown", config = new { }, rootfs = new { type = "layers", diff_ids = new[] { statement.Digest.ToString() } } }), MediaTypes.OciConfig);
            var attestation = Manifest(attestationConfig, statement);
            images[platform] = image;
            attestations[platform] = attestation;

            var imagePlatform = new JObject { ["architecture"] = parts[1], ["os"] = parts[0] };
            if (parts.Length == 3)
            {
                imagePlatform["variant"] = parts[2];
            }

            entries.Add(new JObject { ["mediaType"] = MediaTypes.OciManifest, ["digest"] = image.Manifest.Digest.ToString(), ["size"] = image.Manifest.Size, ["platform"] = imagePlatform });
            entries.Add(new JObject
            {
                ["mediaType"] = MediaTypes.OciManifest,
                ["digest"] = attestation.Manifest.Digest.ToString(),
                ["size"] = attestation.Manifest.Size,
                ["annotations"] = new JObject { ["vnd.docker.reference.digest"] = image.Manifest.Digest.ToString(), ["vnd.docker.reference.type"] = AttestationType },
                ["platform"] = new JObject { ["architecture"] = "unknown", ["os"] = "unknown" },
            });
        }

        var index = new TestBlob(TestContent.Json(new JObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex, ["manifests"] = entries }), MediaTypes.OciIndex);
        return new MultiPlatformImage(index, images, attestations);
    }

    /// <summary>Pushes everything over HTTP with <paramref name="client"/> and tags the index <paramref name="tag"/>.</summary>
    public async Task PushAsync(ParentRegistryClient client, string repository, string tag)
    {
        foreach (var image in Images.Values.Concat(Attestations.Values))
        {
            foreach (var blob in image.Blobs)
            {
                await client.UploadBlobAsync(repository, blob.Digest, new MemoryStream(blob.Bytes), blob.Size, default);
            }

            await client.PutManifestAsync(repository, image.Manifest.Digest.ToString(), image.Manifest.Bytes, image.Manifest.MediaType, default);
        }

        await client.PutManifestAsync(repository, tag, Index.Bytes, Index.MediaType, default);
    }

    private static TestImage Manifest(TestBlob config, TestBlob layer) =>
        new(config, [layer], new TestBlob(TestContent.Json(new JObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = JObject.FromObject(config.Descriptor()),
            ["layers"] = new JArray(JObject.FromObject(layer.Descriptor())),
        }), MediaTypes.OciManifest));

    /// <summary>A tar holding one file of <paramref name="size"/> deterministic bytes.</summary>
    private static byte[] Tar(string seed, int size)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "payload")
            {
                DataStream = new MemoryStream(TestContent.Bytes(seed, size)),
                Mode = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                ModificationTime = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
            });
        }

        return buffer.ToArray();
    }
}
