using ConnectedRegistry.Oci;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Sync;

/// <summary>An OCI content descriptor, as far as sync needs it.</summary>
public sealed record OciDescriptor(string MediaType, Digest Digest, long Size, string? ArtifactType = null);

/// <summary>A manifest exactly as the parent served it.</summary>
public sealed record ManifestContent(byte[] Bytes, string MediaType, Digest Digest)
{
    /// <summary>What this manifest references: for an index its manifests; for an image its config and layers; and its subject.</summary>
    public ManifestReferences References() => ManifestReferences.Parse(Bytes, MediaType);
}

/// <summary>Head of a manifest: what the parent says it is, without the body.</summary>
public sealed record ManifestInfo(Digest Digest, string MediaType, long Size);

/// <summary>The references of one manifest, read leniently (unknown fields ignored, invalid descriptors rejected).</summary>
public sealed record ManifestReferences(
    IReadOnlyList<OciDescriptor> Manifests,
    IReadOnlyList<OciDescriptor> Blobs,
    OciDescriptor? Subject)
{
    public static ManifestReferences Parse(byte[] bytes, string mediaType)
    {
        JObject json;
        try
        {
            json = JObject.Parse(System.Text.Encoding.UTF8.GetString(bytes));
        }
        catch (Newtonsoft.Json.JsonException ex)
        {
            throw new ParentContentException("manifest is not JSON: " + ex.Message);
        }

        var effectiveType = (string?)json["mediaType"] ?? mediaType;
        var manifests = new List<OciDescriptor>();
        var blobs = new List<OciDescriptor>();
        if (MediaTypes.IsIndex(effectiveType) || json["manifests"] is JArray)
        {
            manifests.AddRange(Descriptors(json["manifests"]));
        }
        else
        {
            if (json["config"] is JObject config)
            {
                blobs.Add(Descriptor(config));
            }

            blobs.AddRange(Descriptors(json["layers"]));
            blobs.AddRange(Descriptors(json["blobs"]));
        }

        var subject = json["subject"] is JObject s ? Descriptor(s) : null;
        return new ManifestReferences(manifests, blobs, subject);
    }

    /// <summary>The descriptors of a JSON array (an index's <c>manifests</c>, an image's <c>layers</c>).</summary>
    public static IEnumerable<OciDescriptor> Descriptors(JToken? array) =>
        array is JArray items ? items.OfType<JObject>().Select(Descriptor) : [];

    private static OciDescriptor Descriptor(JObject d)
    {
        var digest = (string?)d["digest"];
        if (!Digest.TryParse(digest, out var parsed))
        {
            throw new ParentContentException("manifest has an invalid descriptor digest");
        }

        var size = d["size"]?.Type == JTokenType.Integer ? (long)d["size"]! : -1;
        if (size < 0)
        {
            throw new ParentContentException("manifest has a descriptor without a valid size");
        }

        return new OciDescriptor((string?)d["mediaType"] ?? "application/octet-stream", parsed, size, (string?)d["artifactType"]);
    }
}
