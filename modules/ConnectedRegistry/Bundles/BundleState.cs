using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Bundles;

/// <summary>
/// What a site holds for its sync set (<c>bundle state</c>): its registry name, the sync set's patterns and filters,
/// each repository's tags → digests, every blob it has, and when. A courier brings it to headquarters, where
/// <c>bundle export --since</c> writes only what the site lacks.
/// </summary>
public sealed record BundleState(
    string? Registry,
    DateTimeOffset Created,
    IReadOnlyList<string> SyncSet,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, Digest>> Repositories,
    IReadOnlySet<Digest> Blobs)
{
    public const int Version = 1;

    /// <summary>The state of the registry in <paramref name="store"/> and <paramref name="blobs"/> under <paramref name="settings"/>.</summary>
    public static BundleState Read(RegistrySettings settings, RegistryStore store, BlobStore blobs, TimeProvider time)
    {
        var set = Sync.SyncSet.Of(settings);
        var repositories = new SortedDictionary<string, IReadOnlyDictionary<string, Digest>>(StringComparer.Ordinal);
        foreach (var repository in store.ListRepositories().Where(set.Contains))
        {
            repositories[repository] = store.ListTags(repository).ToDictionary(t => t.Tag, t => t.Digest, StringComparer.Ordinal);
        }

        return new BundleState(settings.Name, time.GetUtcNow(), [.. set.Patterns.Select(p => p.Text)], repositories,
            blobs.Enumerate().Select(b => b.Digest).ToHashSet());
    }

    public byte[] ToJson() => Encoding.UTF8.GetBytes(new JObject
    {
        ["stateVersion"] = Version,
        ["registry"] = Registry,
        ["created"] = Created.ToString("o"),
        ["syncSet"] = new JArray(SyncSet),
        // the platform and tag filters of the sync set (sync.platforms, sync.filters) are recorded here once they exist
        ["filters"] = new JObject(),
        ["repositories"] = new JObject(Repositories.Select(r => new JProperty(r.Key,
            new JObject(r.Value.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => new JProperty(t.Key, t.Value.ToString())))))),
        ["blobs"] = new JArray(Blobs.Select(b => b.ToString()).Order(StringComparer.Ordinal)),
    }.ToString(Formatting.Indented));

    /// <summary>Reads a state file; anything malformed is refused with what is wrong.</summary>
    public static BundleState Parse(byte[] json)
    {
        try
        {
            using var reader = new JsonTextReader(new StreamReader(new MemoryStream(json))) { DateParseHandling = DateParseHandling.None };
            var doc = JObject.Load(reader);
            if ((int?)doc["stateVersion"] != Version)
            {
                throw new BundleRefusedException($"the state file has stateVersion {doc["stateVersion"]}; this module reads {Version}");
            }

            var repositories = ((JObject)doc["repositories"]!).Properties().ToDictionary(
                r => r.Name,
                r => (IReadOnlyDictionary<string, Digest>)((JObject)r.Value).Properties().ToDictionary(t => t.Name, t => Digest.Parse((string)t.Value!), StringComparer.Ordinal),
                StringComparer.Ordinal);
            return new BundleState(
                (string?)doc["registry"],
                DateTimeOffset.Parse((string)doc["created"]!, System.Globalization.CultureInfo.InvariantCulture),
                [.. ((JArray)doc["syncSet"]!).Select(p => (string)p!)],
                repositories,
                ((JArray)doc["blobs"]!).Select(b => Digest.Parse((string)b!)).ToHashSet());
        }
        catch (Exception ex) when (ex is JsonException or InvalidCastException or NullReferenceException or FormatException or ArgumentException)
        {
            throw new BundleRefusedException($"the state file is not a bundle state: {ex.Message}");
        }
    }
}
