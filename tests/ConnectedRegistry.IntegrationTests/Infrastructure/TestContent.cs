using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using ConnectedRegistry.Oci;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>A piece of content with its digest.</summary>
public sealed record TestBlob(byte[] Bytes, string MediaType)
{
    public Digest Digest { get; } = Digest.Compute(Bytes);

    public long Size => Bytes.LongLength;

    /// <summary>The architecture of an image manifest (for the index that lists it); null for anything else.</summary>
    public string? Platform { get; init; }

    public object Descriptor(string? artifactType = null, IDictionary<string, string>? annotations = null, object? platform = null)
    {
        var d = new Dictionary<string, object> { ["mediaType"] = MediaType, ["digest"] = Digest.ToString(), ["size"] = Size };
        if (artifactType is not null)
        {
            d["artifactType"] = artifactType;
        }

        if (annotations is not null)
        {
            d["annotations"] = annotations;
        }

        if (platform is not null)
        {
            d["platform"] = platform;
        }

        return d;
    }
}

/// <summary>An image: config, layers and the manifest's exact bytes.</summary>
public sealed record TestImage(TestBlob Config, IReadOnlyList<TestBlob> Layers, TestBlob Manifest)
{
    public IEnumerable<TestBlob> Blobs => Layers.Prepend(Config);
}

/// <summary>Small deterministic images, indexes and artifacts built in the test itself.</summary>
public static class TestContent
{
    public const string LayerType = "application/vnd.oci.image.layer.v1.tar";

    /// <summary>Deterministic pseudo-random bytes for a seed.</summary>
    public static byte[] Bytes(string seed, int length)
    {
        var result = new byte[length];
        var block = SHA256.HashData(Encoding.UTF8.GetBytes(seed));
        for (var offset = 0; offset < length; offset += block.Length)
        {
            Array.Copy(block, 0, result, offset, Math.Min(block.Length, length - offset));
            block = SHA256.HashData(block);
        }

        return result;
    }

    public static byte[] Json(object value) => Encoding.UTF8.GetBytes(JsonConvert.SerializeObject(value));

    /// <summary>An OCI artifact manifest (a signature) whose subject is <paramref name="subject"/>, with one payload blob.</summary>
    public static byte[] ArtifactManifest(TestBlob subject, Digest payload, long payloadSize) => Json(new JObject
    {
        ["schemaVersion"] = 2,
        ["mediaType"] = MediaTypes.OciManifest,
        ["artifactType"] = "application/vnd.example.signature",
        ["config"] = new JObject { ["mediaType"] = MediaTypes.OciEmpty, ["digest"] = Digest.Compute("{}"u8).ToString(), ["size"] = 2 },
        ["layers"] = new JArray(new JObject { ["mediaType"] = "application/vnd.example.signature.v1", ["digest"] = payload.ToString(), ["size"] = payloadSize }),
        ["subject"] = JObject.FromObject(subject.Descriptor()),
    });

    public static TestImage Image(string seed, int layers = 2, int layerSize = 4096, string architecture = "amd64", object? subject = null, string? artifactType = null, string mediaType = MediaTypes.OciManifest)
    {
        var layerBlobs = Enumerable.Range(0, layers).Select(i => new TestBlob(Bytes($"{seed}-layer-{i}", layerSize + i), mediaType == MediaTypes.DockerManifest ? "application/vnd.docker.image.rootfs.diff.tar" : LayerType)).ToList();
        var config = new TestBlob(Json(new
        {
            architecture,
            os = "linux",
            created = "2024-01-01T00:00:00Z",
            config = new { Labels = new Dictionary<string, string> { ["seed"] = seed } },
            rootfs = new { type = "layers", diff_ids = layerBlobs.Select(l => l.Digest.ToString()).ToArray() },
        }), mediaType == MediaTypes.DockerManifest ? MediaTypes.DockerConfig : MediaTypes.OciConfig);
        var manifest = new Dictionary<string, object>
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = mediaType,
            ["config"] = config.Descriptor(),
            ["layers"] = layerBlobs.Select(l => l.Descriptor()).ToArray(),
        };
        if (artifactType is not null)
        {
            manifest["artifactType"] = artifactType;
        }

        if (subject is not null)
        {
            manifest["subject"] = subject;
        }

        return new TestImage(config, layerBlobs, new TestBlob(Json(manifest), mediaType));
    }

    /// <summary>An artifact: empty config, one small layer, an artifactType and a subject.</summary>
    public static TestImage Artifact(string seed, string artifactType, TestBlob subject, IDictionary<string, string>? annotations = null)
    {
        var config = new TestBlob("{}"u8.ToArray(), MediaTypes.OciEmpty);
        var layer = new TestBlob(Bytes(seed, 128), "application/vnd.example.signature");
        var manifest = new Dictionary<string, object>
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["artifactType"] = artifactType,
            ["config"] = config.Descriptor(),
            ["layers"] = new[] { layer.Descriptor() },
            ["subject"] = subject.Descriptor(),
        };
        if (annotations is not null)
        {
            manifest["annotations"] = annotations;
        }

        return new TestImage(config, [layer], new TestBlob(Json(manifest), MediaTypes.OciManifest));
    }

    public static TestBlob Index(IEnumerable<(TestImage Image, string Architecture)> images, string mediaType = MediaTypes.OciIndex) =>
        new(Json(new Dictionary<string, object>
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = mediaType,
            ["manifests"] = images.Select(i => i.Image.Manifest.Descriptor(platform: new { architecture = i.Architecture, os = "linux" })).ToArray(),
        }), mediaType);

    /// <summary>
    /// Another OCI image manifest over <paramref name="image"/>'s config and layers, told apart by the annotation
    /// <c>n</c>: many tags with their own manifests and no new blobs (the retention tests seed thousands).
    /// </summary>
    public static byte[] ManifestVariant(TestImage image, string n) =>
        Encoding.UTF8.GetBytes(new JObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = JObject.FromObject(image.Config.Descriptor()),
            ["layers"] = new JArray(image.Layers.Select(l => JObject.FromObject(l.Descriptor()))),
            ["annotations"] = new JObject { ["n"] = n },
        }.ToString(Formatting.None));
}
