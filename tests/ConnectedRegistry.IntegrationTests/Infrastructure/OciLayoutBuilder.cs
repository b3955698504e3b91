using System.IO.Compression;
using System.Security.Cryptography;
using ConnectedRegistry.Oci;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// An OCI image layout on disk (<c>oci-layout</c>, <c>index.json</c>, <c>blobs/</c>) for skopeo to copy from or
/// into. Content is <see cref="TestBlob"/>s: either made elsewhere (<see cref="TestContent"/>) and added with
/// <see cref="AddImage"/>, or made here and written at once: random gzip layers (optionally shared between images),
/// images, multi-platform indexes.
/// </summary>
public sealed class OciLayoutBuilder
{
    private readonly JArray _index = [];

    public OciLayoutBuilder(string directory)
    {
        Directory = directory;
        System.IO.Directory.CreateDirectory(Path.Combine(directory, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(directory, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        Save();
    }

    public string Directory { get; }

    /// <summary>A gzip layer of <paramref name="size"/> random (incompressible) bytes.</summary>
    public TestBlob Layer(int size, int? seed = null)
    {
        var raw = new byte[size];
        if (seed is { } s)
        {
            new Random(s).NextBytes(raw);
        }
        else
        {
            RandomNumberGenerator.Fill(raw);
        }

        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.NoCompression, leaveOpen: true))
        {
            gzip.Write(raw);
        }

        return Blob(buffer.ToArray(), "application/vnd.oci.image.layer.v1.tar+gzip");
    }

    public TestBlob Blob(byte[] content, string mediaType) => AddBlob(new TestBlob(content, mediaType));

    /// <summary>Writes <paramref name="blob"/> into the layout's blobs.</summary>
    public TestBlob AddBlob(TestBlob blob)
    {
        File.WriteAllBytes(Path.Combine(Directory, "blobs", blob.Digest.Algorithm, blob.Digest.Hex), blob.Bytes);
        return blob;
    }

    /// <summary>Writes an image's config, layers and manifest, and names it <paramref name="tag"/> when given.</summary>
    public void AddImage(TestImage image, string? tag = null)
    {
        foreach (var blob in image.Blobs)
        {
            AddBlob(blob);
        }

        AddBlob(image.Manifest);
        if (tag is not null)
        {
            Tag(image.Manifest, tag);
        }
    }

    /// <summary>An image manifest (not yet tagged) for one platform.</summary>
    public TestBlob Image(string architecture, params TestBlob[] layers)
    {
        var config = Blob(TestContent.Json(new JObject
        {
            ["architecture"] = architecture,
            ["os"] = "linux",
            ["created"] = "2026-01-01T00:00:00Z",
            ["rootfs"] = new JObject { ["type"] = "layers", ["diff_ids"] = new JArray(layers.Select(l => l.Digest.ToString())) },
            ["config"] = new JObject { ["Env"] = new JArray("NONCE=" + Guid.NewGuid().ToString("N")) },
        }), MediaTypes.OciConfig);
        var manifest = new Dictionary<string, object>
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = config.Descriptor(),
            ["layers"] = layers.Select(l => l.Descriptor()).ToArray(),
        };
        return Blob(TestContent.Json(manifest), MediaTypes.OciManifest) with { Platform = architecture };
    }

    /// <summary>An index over <paramref name="images"/>, each with its platform.</summary>
    public TestBlob Index(params TestBlob[] images) =>
        Blob(TestContent.Json(new Dictionary<string, object>
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciIndex,
            ["manifests"] = images.Select(i => i.Descriptor(platform: new { architecture = i.Platform, os = "linux" })).ToArray(),
        }), MediaTypes.OciIndex);

    /// <summary>Names <paramref name="manifest"/> as <paramref name="tag"/> in the layout's index.json.</summary>
    public OciLayoutBuilder Tag(TestBlob manifest, string tag)
    {
        _index.Add(JObject.FromObject(manifest.Descriptor(annotations: new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = tag })));
        Save();
        return this;
    }

    /// <summary>A single-platform image with <paramref name="layerCount"/> random layers, tagged in the layout.</summary>
    public TestBlob SimpleImage(string tag, int layerCount = 2, int layerSize = 4096)
    {
        var image = Image("amd64", [.. Enumerable.Range(0, layerCount).Select(_ => Layer(layerSize))]);
        Tag(image, tag);
        return image;
    }

    /// <summary>The bytes of a blob in the layout (after a pull into it, for comparisons); null when absent.</summary>
    public byte[]? ReadBlob(Digest digest)
    {
        var path = Path.Combine(Directory, "blobs", digest.Algorithm, digest.Hex);
        return File.Exists(path) ? File.ReadAllBytes(path) : null;
    }

    private void Save() => File.WriteAllBytes(Path.Combine(Directory, "index.json"),
        TestContent.Json(new JObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex, ["manifests"] = _index }));
}
