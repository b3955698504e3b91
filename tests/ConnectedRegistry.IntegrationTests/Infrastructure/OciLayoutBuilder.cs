using System.IO.Compression;
using System.Security.Cryptography;
using ConnectedRegistry.Oci;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// Builds small OCI image layouts on disk (for skopeo to push): single images, multi-platform indexes,
/// with random gzip layers, optionally sharing layers between images.
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
    public OciBlob Layer(int size, int? seed = null)
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

    public OciBlob Blob(byte[] content, string mediaType)
    {
        var digest = Digest.Compute(content);
        File.WriteAllBytes(Path.Combine(Directory, "blobs", "sha256", digest.Hex), content);
        return new OciBlob(digest, content.LongLength, mediaType);
    }

    /// <summary>An image manifest (not yet tagged) for one platform.</summary>
    public OciBlob Image(string architecture, params OciBlob[] layers)
    {
        var config = Blob(Json(new JObject
        {
            ["architecture"] = architecture,
            ["os"] = "linux",
            ["created"] = "2026-01-01T00:00:00Z",
            ["rootfs"] = new JObject { ["type"] = "layers", ["diff_ids"] = new JArray(layers.Select(l => l.Digest.ToString())) },
            ["config"] = new JObject { ["Env"] = new JArray("NONCE=" + Guid.NewGuid().ToString("N")) },
        }), MediaTypes.OciConfig);
        var manifest = new JObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = config.Descriptor(),
            ["layers"] = new JArray(layers.Select(l => l.Descriptor())),
        };
        return Blob(Json(manifest), MediaTypes.OciManifest) with { Platform = architecture };
    }

    /// <summary>An index over <paramref name="images"/>, each with its platform.</summary>
    public OciBlob Index(params OciBlob[] images)
    {
        var index = new JObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciIndex,
            ["manifests"] = new JArray(images.Select(i =>
            {
                var d = i.Descriptor();
                d["platform"] = new JObject { ["architecture"] = i.Platform, ["os"] = "linux" };
                return d;
            })),
        };
        return Blob(Json(index), MediaTypes.OciIndex);
    }

    /// <summary>Names <paramref name="manifest"/> as <paramref name="tag"/> in the layout's index.json.</summary>
    public OciLayoutBuilder Tag(OciBlob manifest, string tag)
    {
        var d = manifest.Descriptor();
        d["annotations"] = new JObject { ["org.opencontainers.image.ref.name"] = tag };
        _index.Add(d);
        Save();
        return this;
    }

    /// <summary>A single-platform image with <paramref name="layerCount"/> random layers, tagged in the layout.</summary>
    public OciBlob SimpleImage(string tag, int layerCount = 2, int layerSize = 4096)
    {
        var image = Image("amd64", [.. Enumerable.Range(0, layerCount).Select(_ => Layer(layerSize))]);
        Tag(image, tag);
        return image;
    }

    public static byte[] Json(JObject value) => System.Text.Encoding.UTF8.GetBytes(value.ToString(Formatting.None));

    private void Save() => File.WriteAllText(Path.Combine(Directory, "index.json"),
        new JObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex, ["manifests"] = _index }.ToString(Formatting.None));
}

public sealed record OciBlob(Digest Digest, long Size, string MediaType, string? Platform = null)
{
    public JObject Descriptor() => new() { ["mediaType"] = MediaType, ["digest"] = Digest.ToString(), ["size"] = Size };
}
