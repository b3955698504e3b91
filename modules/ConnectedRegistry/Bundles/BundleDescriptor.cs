using System.Text;
using ConnectedRegistry.Oci;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Bundles;

/// <summary>One object of a bundle, in the tar's order: a manifest (<see cref="MediaType"/> set) or a blob; <see cref="Repository"/> is where export read it.</summary>
public sealed record BundleObject(Digest Digest, long Size, string? MediaType, string Repository)
{
    public bool IsManifest => MediaType is not null;
}

/// <summary>One repository of a bundle: the tags it sets, and the manifests and blobs of the bundle it needs.</summary>
public sealed record BundleRepository(string Name, IReadOnlyDictionary<string, Digest> Tags, IReadOnlyList<Digest> Manifests, IReadOnlyList<Digest> Blobs);

/// <summary>The state a delta bundle was made against (<c>--since</c>): its registry, time and the digest of the state file.</summary>
public sealed record BundleSince(string Registry, DateTimeOffset Created, Digest StateDigest);

/// <summary>
/// The signed descriptor of a bundle (<c>bundle.json</c>): who exported it (the key's id), for which registry, since
/// which state, when, and every repository's tags and every object's digest and size, so import verifies all of it
/// before it changes anything. The layout's <c>index.json</c> is derived from it (<see cref="IndexJson"/>), so the
/// signature covers the tags OCI tools read too.
/// </summary>
public sealed record BundleDescriptor(
    string Registry,
    string KeyId,
    string Exporter,
    DateTimeOffset Created,
    BundleSince? Since,
    IReadOnlyList<BundleRepository> Repositories,
    IReadOnlyList<BundleObject> Objects)
{
    public long TotalBytes => Objects.Sum(o => o.Size);

    public byte[] ToJson() => Encoding.UTF8.GetBytes(new JObject
    {
        ["bundleVersion"] = BundleFormat.Version,
        ["registry"] = Registry,
        ["keyId"] = KeyId,
        ["exporter"] = Exporter,
        ["created"] = Created.ToString("o"),
        ["since"] = Since is null ? null : new JObject
        {
            ["registry"] = Since.Registry,
            ["created"] = Since.Created.ToString("o"),
            ["stateDigest"] = Since.StateDigest.ToString(),
        },
        ["repositories"] = new JArray(Repositories.Select(r => new JObject
        {
            ["name"] = r.Name,
            ["tags"] = new JObject(r.Tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => new JProperty(t.Key, t.Value.ToString()))),
            ["manifests"] = new JArray(r.Manifests.Select(d => d.ToString())),
            ["blobs"] = new JArray(r.Blobs.Select(d => d.ToString())),
        })),
        ["objects"] = new JArray(Objects.Select(o => new JObject
        {
            ["digest"] = o.Digest.ToString(),
            ["size"] = o.Size,
            ["mediaType"] = o.MediaType,
            ["repository"] = o.Repository,
        })),
    }.ToString(Formatting.Indented));

    /// <summary>Reads a descriptor; anything malformed is refused with what is wrong.</summary>
    public static BundleDescriptor Parse(byte[] json)
    {
        JObject doc;
        try
        {
            using var reader = new JsonTextReader(new StreamReader(new MemoryStream(json), new UTF8Encoding(false, true))) { DateParseHandling = DateParseHandling.None };
            doc = JObject.Load(reader);
        }
        catch (Exception ex) when (ex is JsonException or DecoderFallbackException)
        {
            throw new BundleRefusedException($"{BundleFormat.DescriptorFile} is not JSON: {ex.Message}");
        }

        try
        {
            if ((int?)doc["bundleVersion"] != BundleFormat.Version)
            {
                throw new BundleRefusedException($"{BundleFormat.DescriptorFile} has bundleVersion {doc["bundleVersion"]}; this module reads {BundleFormat.Version}");
            }

            var since = doc["since"] is JObject s
                ? new BundleSince(Text(s, "registry"), DateTimeOffset.Parse(Text(s, "created"), System.Globalization.CultureInfo.InvariantCulture), Digest.Parse(Text(s, "stateDigest")))
                : null;
            var repositories = ((JArray)doc["repositories"]!).Cast<JObject>().Select(r =>
            {
                var name = Text(r, "name");
                if (!RepositoryName.IsValid(name))
                {
                    throw new BundleRefusedException($"{BundleFormat.DescriptorFile} names an invalid repository '{name}'");
                }

                var tags = ((JObject)r["tags"]!).Properties().ToDictionary(
                    p => Tag.IsValid(p.Name) ? p.Name : throw new BundleRefusedException($"{BundleFormat.DescriptorFile} names an invalid tag '{p.Name}' in {name}"),
                    p => Digest.Parse((string)p.Value!), StringComparer.Ordinal);
                return new BundleRepository(name, tags, Digests(r, "manifests"), Digests(r, "blobs"));
            }).ToList();
            var objects = ((JArray)doc["objects"]!).Cast<JObject>().Select(o => new BundleObject(
                Digest.Parse(Text(o, "digest")), (long)o["size"]!, (string?)o["mediaType"], Text(o, "repository"))).ToList();
            return new BundleDescriptor(Text(doc, "registry"), Text(doc, "keyId"), (string?)doc["exporter"] ?? string.Empty,
                DateTimeOffset.Parse(Text(doc, "created"), System.Globalization.CultureInfo.InvariantCulture), since, repositories, objects);
        }
        catch (Exception ex) when (ex is InvalidCastException or NullReferenceException or FormatException or ArgumentException or OverflowException)
        {
            throw new BundleRefusedException($"{BundleFormat.DescriptorFile} is not a bundle descriptor: {ex.Message}");
        }

        static string Text(JObject o, string member) => (string?)o[member] ?? throw new FormatException($"'{member}' is missing");

        static List<Digest> Digests(JObject o, string member) => [.. ((JArray)o[member]!).Select(d => Digest.Parse((string)d!))];
    }

    /// <summary>
    /// The OCI layout's <c>index.json</c>: every tag of every repository as a manifest descriptor named
    /// <c>repository:tag</c> (<see cref="BundleFormat.RefNameAnnotation"/>), with the repository and tag in annotations of their own.
    /// </summary>
    public byte[] IndexJson()
    {
        var manifests = Objects.Where(o => o.IsManifest).GroupBy(o => o.Digest).ToDictionary(g => g.Key, g => g.First());
        var entries = new JArray();
        foreach (var repository in Repositories)
        {
            foreach (var (tag, digest) in repository.Tags.OrderBy(t => t.Key, StringComparer.Ordinal))
            {
                if (manifests.TryGetValue(digest, out var manifest))
                {
                    entries.Add(new JObject
                    {
                        ["mediaType"] = manifest.MediaType,
                        ["digest"] = digest.ToString(),
                        ["size"] = manifest.Size,
                        ["annotations"] = new JObject
                        {
                            [BundleFormat.RefNameAnnotation] = $"{repository.Name}:{tag}",
                            [BundleFormat.RepositoryAnnotation] = repository.Name,
                            [BundleFormat.TagAnnotation] = tag,
                        },
                    });
                }
            }
        }

        return Encoding.UTF8.GetBytes(new JObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciIndex,
            ["manifests"] = entries,
        }.ToString(Formatting.None));
    }
}
