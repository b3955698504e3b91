using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// <c>sync.platforms</c> and <c>sync.filters</c> (and a child's <c>platforms</c> and <c>filters</c>): validated through
/// <see cref="SyncFilter"/>, the one place of the filter rules; every bad member is its own reason.
/// </summary>
public static partial class DesiredPropertiesParser
{
    private static readonly string[] FilterMembers = ["repositories", "includeTags", "excludeTags", "platforms", "newest"];

    /// <summary>A list of platforms <c>os/arch[/variant]</c>; null when absent.</summary>
    private static List<string>? PlatformList(JObject owner, string member, string path, List<string> errors)
    {
        if (BoundedArray(owner, member, path, SyncFilter.MaxPlatforms, "platforms such as 'linux/arm64'", errors) is not { } array)
        {
            return null;
        }

        var result = new List<string>();
        for (var i = 0; i < array.Count; i++)
        {
            var text = array[i].Type == JTokenType.String ? array[i].Value<string>()! : null;
            var reason = text is null ? "must be a string" : SyncFilter.PlatformError(text);
            if (reason is not null)
            {
                errors.Add($"{path}[{i}] '{Shorten(array[i].ToString())}' {reason}");
            }
            else if (!result.Contains(text!, StringComparer.Ordinal))
            {
                result.Add(text!);
            }
        }

        return result;
    }

    /// <summary>A list of tag and platform filters per repository pattern (<c>sync.filters</c>, a child's <c>filters</c>).</summary>
    private static List<SyncFilterSettings> FilterList(JObject owner, string member, string path, List<string> errors, List<string>? warnings)
    {
        var result = new List<SyncFilterSettings>();
        if (BoundedArray(owner, member, path, SyncFilter.MaxFilters, "filters", errors) is not { } array)
        {
            return result;
        }

        for (var i = 0; i < array.Count; i++)
        {
            if (FilterEntry(array[i], $"{path}[{i}]", errors, warnings) is { } filter)
            {
                result.Add(filter);
            }
        }

        return result;
    }

    /// <summary>The array <paramref name="member"/> of at most <paramref name="max"/> entries; null when absent or wrong (the reason added).</summary>
    private static JArray? BoundedArray(JObject owner, string member, string path, int max, string of, List<string> errors)
    {
        if (!owner.TryGetValue(member, out var value) || value.Type == JTokenType.Null)
        {
            return null;
        }

        if (value is not JArray array)
        {
            errors.Add($"{path} must be an array of {of}");
            return null;
        }

        if (array.Count > max)
        {
            errors.Add($"{path} has {array.Count} entries; at most {max} are allowed");
            return null;
        }

        return array;
    }

    private static SyncFilterSettings? FilterEntry(JToken token, string path, List<string> errors, List<string>? warnings)
    {
        if (token is not JObject entry)
        {
            errors.Add($"{path} must be an object");
            return null;
        }

        if (warnings is not null)
        {
            CheckObject(entry, path, FilterMembers, [], errors, warnings);
        }

        var before = errors.Count;
        var repositories = RepositoryPatterns(entry, path, errors);
        var include = TagPattern(entry, "includeTags", $"{path}.includeTags", errors);
        var exclude = TagPattern(entry, "excludeTags", $"{path}.excludeTags", errors);
        var platforms = PlatformList(entry, "platforms", $"{path}.platforms", errors);
        var newest = Count(entry, "newest", $"{path}.newest", SyncFilter.MaxNewest, errors);
        return errors.Count == before ? new SyncFilterSettings { Repositories = repositories, IncludeTags = include, ExcludeTags = exclude, Platforms = platforms, Newest = newest } : null;
    }

    /// <summary>
    /// The required <c>repositories</c> of a list entry (<c>sync.filters</c>, <c>storage.retention</c>): repository names,
    /// <c>prefix/*</c> or <c>*</c>, each kept once.
    /// </summary>
    private static List<string> RepositoryPatterns(JObject entry, string path, List<string> errors)
    {
        var repositories = new List<string>();
        if (entry["repositories"] is not JArray { Count: > 0 } patterns)
        {
            errors.Add($"{path}.repositories is required: an array of repository names or patterns ('prefix/*', '*')");
            return repositories;
        }

        for (var i = 0; i < patterns.Count; i++)
        {
            var text = patterns[i].Type == JTokenType.String ? patterns[i].Value<string>() : null;
            if (!RepositoryPattern.TryParse(text, out _))
            {
                errors.Add($"{path}.repositories[{i}] '{Shorten(patterns[i].ToString())}' is not a repository name, a 'prefix/*' wildcard or '*'");
            }
            else if (!repositories.Contains(text!, StringComparer.Ordinal))
            {
                repositories.Add(text!);
            }
        }

        return repositories;
    }

    /// <summary>A count (<c>newest</c>, <c>keepNewest</c>): a whole number 1..<paramref name="max"/> (<see cref="SettingRules.WholeNumber"/>); null when absent.</summary>
    private static int? Count(JObject owner, string member, string path, int max, List<string> errors) =>
        (int?)Number(owner, member, path, SettingRules.WholeNumber(1, max), errors);

    private static string? TagPattern(JObject owner, string member, string path, List<string> errors)
    {
        var pattern = Str(owner, member, path, errors);
        if (string.IsNullOrEmpty(pattern))
        {
            return null;
        }

        if (SyncFilter.TagPatternError(pattern) is { } reason)
        {
            errors.Add($"{path} '{Shorten(pattern)}' {reason}");
            return null;
        }

        return pattern;
    }
}
