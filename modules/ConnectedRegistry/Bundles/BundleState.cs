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
    IReadOnlySet<Digest> Blobs,
    BundleFilters? Filters = null)
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
            blobs.Enumerate().Select(b => b.Digest).ToHashSet(), BundleFilters.Of(settings));
    }

    public byte[] ToJson() => Encoding.UTF8.GetBytes(new JObject
    {
        ["stateVersion"] = Version,
        ["registry"] = Registry,
        ["created"] = Created.ToString("o"),
        ["syncSet"] = new JArray(SyncSet),
        ["filters"] = Filters?.ToJson() ?? new JObject(),
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
                ((JArray)doc["blobs"]!).Select(b => Digest.Parse((string)b!)).ToHashSet(),
                doc["filters"] is JObject filters ? BundleFilters.Parse(filters) : null);
        }
        catch (Exception ex) when (ex is JsonException or InvalidCastException or NullReferenceException or FormatException or ArgumentException)
        {
            throw new BundleRefusedException($"the state file is not a bundle state: {ex.Message}");
        }
    }
}

/// <summary>
/// The site's filters in its state file: its own <c>sync.repositories</c>, <c>sync.platforms</c> and <c>sync.filters</c>
/// and each child's, so that <c>bundle export --since</c> rebuilds the same <see cref="Sync.SyncSet"/> selection of
/// tags and platforms the site's sync down would make.
/// </summary>
public sealed record BundleFilters(IReadOnlyList<string> Repositories, IReadOnlyList<string> Platforms, IReadOnlyList<SyncFilterSettings> Filters, IReadOnlyList<BundleChildFilters> Children)
{
    public static BundleFilters Of(RegistrySettings settings) => new(
        settings.Sync.Repositories, settings.Sync.Platforms, settings.Sync.Filters,
        [.. settings.Children.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => new BundleChildFilters(c.Value.Repositories, c.Value.Platforms, c.Value.Filters))]);

    /// <summary>Settings whose <see cref="Sync.SyncSet"/> selects as the site's does (only the filters; no secrets).</summary>
    public RegistrySettings ToSettings() => new()
    {
        Sync = new SyncSettings { Repositories = Repositories, Platforms = Platforms, Filters = Filters },
        Children = Children.Select((c, i) => (Name: $"child{i}", Settings: new ChildRegistrySettings
        {
            SyncTokenPasswordHash = string.Empty,
            Repositories = c.Repositories,
            Platforms = c.Platforms,
            Filters = c.Filters,
        })).ToDictionary(c => c.Name, c => c.Settings, StringComparer.Ordinal),
    };

    public JObject ToJson() => new()
    {
        ["repositories"] = new JArray(Repositories),
        ["platforms"] = new JArray(Platforms),
        ["filters"] = FiltersJson(Filters),
        ["children"] = new JArray(Children.Select(c => new JObject
        {
            ["repositories"] = new JArray(c.Repositories),
            ["platforms"] = new JArray(c.Platforms),
            ["filters"] = FiltersJson(c.Filters),
        })),
    };

    /// <summary>The filters of a state file; null for a state that records none (an empty <c>filters</c> object).</summary>
    public static BundleFilters? Parse(JObject json)
    {
        if (!json.HasValues)
        {
            return null;
        }

        return new BundleFilters(Strings(json["repositories"]), Strings(json["platforms"]), ParseFilters(json["filters"]),
            [.. (json["children"] as JArray ?? []).Select(c => new BundleChildFilters(Strings(c["repositories"]), Strings(c["platforms"]), ParseFilters(c["filters"])))]);
    }

    private static JArray FiltersJson(IReadOnlyList<SyncFilterSettings> filters) => new(filters.Select(f =>
    {
        var entry = new JObject { ["repositories"] = new JArray(f.Repositories) };
        if (f.IncludeTags is not null)
        {
            entry["includeTags"] = f.IncludeTags;
        }

        if (f.ExcludeTags is not null)
        {
            entry["excludeTags"] = f.ExcludeTags;
        }

        if (f.Platforms is not null)
        {
            entry["platforms"] = new JArray(f.Platforms);
        }

        if (f.Newest is not null)
        {
            entry["newest"] = f.Newest; // carried so the state says what the site keeps; bundles select per tag, without the count
        }

        return entry;
    }));

    private static List<string> Strings(JToken? token) => [.. (token as JArray ?? []).Select(t => (string)t!)];

    private static List<SyncFilterSettings> ParseFilters(JToken? token) => [.. (token as JArray ?? []).Select(f => new SyncFilterSettings
    {
        Repositories = Strings(f["repositories"]),
        IncludeTags = (string?)f["includeTags"],
        ExcludeTags = (string?)f["excludeTags"],
        Platforms = f["platforms"] is JArray platforms ? Strings(platforms) : null,
        Newest = (int?)f["newest"],
    })];
}

/// <summary>A child's filters in the state file (see <see cref="BundleFilters"/>).</summary>
public sealed record BundleChildFilters(IReadOnlyList<string> Repositories, IReadOnlyList<string> Platforms, IReadOnlyList<SyncFilterSettings> Filters);
