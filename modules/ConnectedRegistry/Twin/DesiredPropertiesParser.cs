using System.Globalization;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>The outcome of parsing desired properties: settings when valid, else every reason it is not.</summary>
public sealed record DesiredParseResult(RegistrySettings? Settings, IReadOnlyList<string> Errors, LogLevel? ExplicitLogLevel)
{
    public bool IsValid => Settings is not null;

    /// <summary>Members this module does not know (by JSON path): applied all the same, as a newer minor schema needs.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>
/// Desired properties (schema 1.x) → <see cref="RegistrySettings"/>. Validates every field and collects
/// every error (as edgeHub's config parser does) so an operator fixes a twin in one go. Error messages
/// name the field by its JSON path and never repeat a secret (password hashes are not echoed).
/// Unknown members are ignored so that a newer minor schema still applies, and listed as warnings; a member
/// that differs from a known one only by case (<c>ClientTokens</c>) is an error, since ignoring it could leave
/// the registry running without the tokens the operator meant to set.
/// </summary>
public static partial class DesiredPropertiesParser
{
    public const int SupportedMajorVersion = 1;
    public const int MaxClientTokens = AuthRules.MaxClientTokens;
    public const int MaxScopeMapPermissions = AuthRules.MaxRepositoryPermissions;
    public const int MinNameLength = AuthRules.MinRegistryNameLength;
    public const int MaxNameLength = AuthRules.MaxRegistryNameLength;

    private static readonly string[] LogLevels = ["Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"];

    // The schema's member names, in one place: the top level, its fixed objects, and the entries of its maps.
    private static readonly string[] TopMembers = ["schemaVersion", "name", "mode", "parent", "sync", "clientTokens", "children", "garbageCollection", "anonymousPull", "logLevel", "notifications", "storage", "bundles"];

    private static readonly (string Member, string[] Known)[] ObjectMembers =
    [
        ("parent", ["endpoint", "syncTokenName", "trustedRealmHosts"]),
        ("sync", ["schedule", "window", "messageTtl", "repositories", "bandwidth", "onDemand", "platforms", "filters", "parentIdleTimeout"]),
        ("garbageCollection", ["enabled", "schedule", "deleteUntaggedManifests"]),
        ("storage", ["minFreeBytes", "evictBelowFreeBytes", "pinPulledWithin", "retention"]),
        ("bundles", ["trustedKeys"]),
    ];

    // Objects inside those, by path, checked alike: a misspelt limitMbps is a warning and a case variant an error,
    // rather than a link left without the cap the operator wrote.
    private static readonly (string Path, string[] Known)[] NestedObjectMembers =
    [
        ("sync.bandwidth", ["limitMbps", "schedules"]),
        ("storage.retention", ["rules", "maxRemovalsPerPass"]),
    ];

    // Of those, the ones that may also be written as an array (storage.retention: the list of rules alone): the path
    // itself is a member too.
    private static readonly string[] ArrayOrObjectMembers = ["storage.retention"];

    private static readonly (string Member, string[] Known)[] MapEntryMembers =
    [
        ("clientTokens", ["passwordHash", "scopeMap", "status", "expiry"]),
        ("children", ["mode", "syncTokenPasswordHash", "repositories", "platforms", "filters"]),
    ];

    // The members that decide who may do what: an unknown member that looks like one of these (MemberLikeness) is an
    // error, since the document applied without it would leave the registry more open than written (no tokens, a
    // ReadWrite registry, a token that should be disabled or expired, a child's repositories).
    private static readonly string[] SecurityTopMembers = ["clientTokens", "children", "mode", "anonymousPull"];

    private static readonly (string Member, string[] Security)[] SecurityEntryMembers =
    [
        ("clientTokens", ["passwordHash", "scopeMap", "status", "expiry"]),
        ("children", ["mode", "syncTokenPasswordHash", "repositories"]),
    ];

    /// <summary>
    /// Every member of the schema by its path, as this parser knows it and as the twin reference lists it: each member
    /// of the fixed objects (<c>parent.endpoint</c>, <c>sync.bandwidth.limitMbps</c>), each map and its entries' members
    /// (<c>clientTokens</c>, <c>clientTokens.&lt;name&gt;.passwordHash</c>) and every other top-level member. The
    /// entries of arrays (<c>sync.filters</c>) are described with their member. The docs' tests compare the tables to it.
    /// </summary>
    public static IReadOnlyList<string> MemberPaths()
    {
        var paths = new List<string>();
        foreach (var top in TopMembers)
        {
            if (ObjectMembers.FirstOrDefault(o => o.Member == top).Known is { } known)
            {
                foreach (var member in known)
                {
                    var path = $"{top}.{member}";
                    if (NestedObjectMembers.FirstOrDefault(o => o.Path == path).Known is { } nested)
                    {
                        if (ArrayOrObjectMembers.Contains(path, StringComparer.Ordinal))
                        {
                            paths.Add(path);
                        }

                        paths.AddRange(nested.Select(n => $"{path}.{n}"));
                    }
                    else
                    {
                        paths.Add(path);
                    }
                }
            }
            else if (MapEntryMembers.FirstOrDefault(o => o.Member == top).Known is { } entry)
            {
                paths.Add(top);
                paths.AddRange(entry.Select(m => $"{top}.<name>.{m}"));
            }
            else
            {
                paths.Add(top);
            }
        }

        return paths;
    }

    /// <summary>
    /// Parses a whole desired document (service <c>$</c>-members are ignored). <paramref name="environment"/>
    /// resolves <c>$IOTEDGE_PARENTHOSTNAME</c> (or <c>$upstream</c>) in <c>parent.endpoint</c>, so a lower-layer
    /// deployment can name its parent device without knowing its host name.
    /// </summary>
    public static DesiredParseResult Parse(JObject desired, Func<string, string?>? environment = null)
    {
        var doc = JsonMergePatch.WithoutMetadata(desired);
        var errors = new List<string>();
        var warnings = new List<string>();
        if (SchemaVersionError(doc, out var schemaVersion) is { } rejected)
        {
            return new DesiredParseResult(null, [rejected], null);
        }

        CheckMembers(doc, errors, warnings);
        var name = ParseName(doc, errors);
        var mode = ParseMode(doc, "mode", "mode", RegistryMode.ReadWrite, errors);
        var parent = ParseParent(doc, environment, errors);
        var sync = ParseSync(doc, errors, warnings);
        var tokens = ParseClientTokens(doc, errors);
        var children = ParseChildren(doc, mode, errors, warnings);
        var gc = ParseGarbageCollection(doc, errors);
        var notifications = ParseNotifications(doc, errors);
        var storage = ParseEviction(doc, ParseStorage(doc, errors), errors) with { Retention = ParseRetention(doc, errors, warnings) };
        var bundles = ParseBundles(doc, errors);
        var anonymousPull = Bool(doc, "anonymousPull", "anonymousPull", errors) ?? false;
        var explicitLevel = ParseLogLevel(doc, errors);
        if (errors.Count > 0)
        {
            return new DesiredParseResult(null, errors, null);
        }

        var settings = new RegistrySettings
        {
            SchemaVersion = schemaVersion,
            Name = name,
            Mode = mode,
            Parent = parent,
            Sync = sync,
            ClientTokens = tokens,
            Children = children,
            GarbageCollection = gc,
            AnonymousPull = anonymousPull,
            LogLevel = explicitLevel?.ToString() ?? RegistrySettings.Default.LogLevel,
            Notifications = notifications,
            Storage = storage,
            Bundles = bundles,
        };
        return new DesiredParseResult(settings, [], explicitLevel) { Warnings = warnings };
    }

    /// <summary>
    /// <c>schemaVersion</c> (1.0 when absent): the reason the whole document is rejected when it is not a version of
    /// the major this module reads, else null.
    /// </summary>
    private static string? SchemaVersionError(JObject doc, out string schemaVersion)
    {
        schemaVersion = "1.0";
        if (!doc.TryGetValue("schemaVersion", out var schemaToken))
        {
            return null;
        }

        schemaVersion = schemaToken.Type == JTokenType.String ? schemaToken.Value<string>()! : schemaToken.ToString();
        if (!TryMajor(schemaVersion, out var major))
        {
            return $"schemaVersion '{schemaVersion}' is not a version (expected for example '1.0')";
        }

        return major != SupportedMajorVersion
            ? $"schemaVersion '{schemaVersion}' is not supported (this module reads {SupportedMajorVersion}.x)"
            : null;
    }

    /// <summary><c>name</c>: the registry's name by <see cref="AuthRules.IsValidRegistryName"/>; null when absent or wrong.</summary>
    private static string? ParseName(JObject doc, List<string> errors)
    {
        if (Str(doc, "name", "name", errors) is not { } name)
        {
            return null;
        }

        if (AuthRules.IsValidRegistryName(name))
        {
            return name;
        }

        errors.Add($"name '{Shorten(name)}' must be {MinNameLength} to {MaxNameLength} characters, start with a letter and contain only letters, digits, '-' or '_'");
        return null;
    }

    /// <summary><c>logLevel</c>: one of the .NET log levels, in any case; null when absent or wrong.</summary>
    private static LogLevel? ParseLogLevel(JObject doc, List<string> errors)
    {
        if (Str(doc, "logLevel", "logLevel", errors) is not { } level)
        {
            return null;
        }

        if (LogLevels.FirstOrDefault(l => string.Equals(l, level, StringComparison.OrdinalIgnoreCase)) is { } known)
        {
            return Enum.Parse<LogLevel>(known);
        }

        errors.Add($"logLevel '{Shorten(level)}' must be one of {string.Join(", ", LogLevels)}");
        return null;
    }

    private static bool TryMajor(string version, out int major)
    {
        var dot = version.IndexOf('.', StringComparison.Ordinal);
        var head = dot < 0 ? version : version[..dot];
        return int.TryParse(head, NumberStyles.None, CultureInfo.InvariantCulture, out major);
    }

    private static RegistryMode ParseMode(JObject owner, string member, string path, RegistryMode fallback, List<string> errors)
    {
        var value = Str(owner, member, path, errors);
        if (value is null)
        {
            return fallback;
        }

        if (string.Equals(value, nameof(RegistryMode.ReadWrite), StringComparison.OrdinalIgnoreCase))
        {
            return RegistryMode.ReadWrite;
        }

        if (string.Equals(value, nameof(RegistryMode.ReadOnly), StringComparison.OrdinalIgnoreCase))
        {
            return RegistryMode.ReadOnly;
        }

        errors.Add($"{path} '{Shorten(value)}' must be ReadWrite or ReadOnly");
        return fallback;
    }

    /// <summary>An array of strings, each kept once (absent: empty); null when it is not one.</summary>
    private static List<string>? StringList(JObject owner, string member, string path, List<string> errors)
    {
        if (!owner.TryGetValue(member, out var value) || value.Type == JTokenType.Null)
        {
            return [];
        }

        if (value is not JArray array || array.Any(a => a.Type != JTokenType.String))
        {
            errors.Add($"{path} must be an array of strings");
            return null;
        }

        return array.Select(a => a.Value<string>()!).Distinct(StringComparer.Ordinal).ToList();
    }

    private static List<string> ParseNotifications(JObject doc, List<string> errors)
    {
        var result = new List<string>();
        if (!doc.TryGetValue("notifications", out var value) || value.Type == JTokenType.Null)
        {
            return result;
        }

        if (value is not JArray array)
        {
            errors.Add("notifications must be an array of 'repository[:tag]:action' patterns");
            return result;
        }

        if (array.Count > NotificationFilter.MaxPatterns)
        {
            errors.Add($"notifications has {array.Count} patterns; at most {NotificationFilter.MaxPatterns} are allowed");
        }

        for (var i = 0; i < array.Count; i++)
        {
            var text = array[i].Type == JTokenType.String ? array[i].Value<string>()! : null;
            var reason = text is null ? "must be a string" : NotificationFilter.Validate(text);
            if (reason is not null)
            {
                errors.Add($"notifications[{i}] '{Shorten(array[i].ToString())}' {reason}");
            }
            else if (!result.Contains(text!, StringComparer.Ordinal))
            {
                result.Add(text!);
            }
        }

        return result;
    }

    /// <summary><c>storage.minFreeBytes</c>: a count of bytes (<see cref="SettingRules.Bytes"/>), 0 or more.</summary>
    public static readonly SettingRule<long> FreeBytesRule = SettingRules.Bytes(0);

    private static StorageSettings ParseStorage(JObject doc, List<string> errors) =>
        Obj(doc, "storage", "storage", errors) is { } storage && Number(storage, "minFreeBytes", "storage.minFreeBytes", FreeBytesRule, errors) is { } bytes
            ? new StorageSettings { MinFreeBytes = bytes }
            : new StorageSettings();

    private static List<string> RepositoryList(JObject owner, string member, string path, List<string> errors)
    {
        var result = new List<string>();
        if (!owner.TryGetValue(member, out var value) || value.Type == JTokenType.Null)
        {
            return result;
        }

        if (value is not JArray array)
        {
            errors.Add($"{path} must be an array of repository names");
            return result;
        }

        for (var i = 0; i < array.Count; i++)
        {
            var item = array[i];
            if (item.Type != JTokenType.String || !RepositoryPattern.IsNameOrPrefix(item.Value<string>()))
            {
                errors.Add($"{path}[{i}] '{Shorten(item.ToString())}' is not a repository name or a 'prefix/*' wildcard");
                continue;
            }

            if (!result.Contains(item.Value<string>()!, StringComparer.Ordinal))
            {
                result.Add(item.Value<string>()!);
            }
        }

        return result;
    }

    /// <summary>A cron schedule (<see cref="SettingRules.Cron"/>), trimmed; null when it is not one (the reason added).</summary>
    private static string? Cron(string text, string path, List<string> errors)
    {
        if (SettingRules.Cron.TryRead(text, out var cron))
        {
            return cron;
        }

        errors.Add($"{path} '{Shorten(text)}' must be {SettingRules.Cron.Takes}");
        return null;
    }

    /// <summary>A duration by <paramref name="rule"/> (<see cref="SettingRules.Duration"/>), given as a string; null when absent or wrong (the reason added).</summary>
    private static TimeSpan? Duration(JObject owner, string member, string path, SettingRule<TimeSpan> rule, List<string> errors)
    {
        var text = Str(owner, member, path, errors);
        if (text is null)
        {
            return null;
        }

        if (rule.TryRead(text, out var value))
        {
            return value;
        }

        errors.Add($"{path} '{Shorten(text)}' must be {rule.Takes}");
        return null;
    }

    /// <summary>
    /// A number by <paramref name="rule"/> (<see cref="SettingRules"/>: a whole number, bytes, megabits), given as a JSON
    /// number and read as its text; null when absent or wrong (the reason added, the value as the document wrote it).
    /// </summary>
    private static T? Number<T>(JObject owner, string member, string path, SettingRule<T> rule, List<string> errors)
        where T : struct
    {
        if (!owner.TryGetValue(member, out var value) || value.Type == JTokenType.Null)
        {
            return null;
        }

        var written = value.ToString(Newtonsoft.Json.Formatting.None);
        if (value.Type is JTokenType.Integer or JTokenType.Float && rule.TryRead(written, out var number))
        {
            return number;
        }

        errors.Add($"{path} '{Shorten(written)}' must be {rule.Takes}");
        return null;
    }

    private static JObject? Obj(JObject owner, string member, string path, List<string> errors)
    {
        if (!owner.TryGetValue(member, out var value) || value.Type == JTokenType.Null)
        {
            return null;
        }

        if (value is JObject obj)
        {
            return obj;
        }

        errors.Add($"{path} must be an object");
        return null;
    }

    private static string? Str(JObject owner, string member, string path, List<string> errors)
    {
        if (!owner.TryGetValue(member, out var value) || value.Type == JTokenType.Null)
        {
            return null;
        }

        if (value.Type == JTokenType.String)
        {
            return value.Value<string>();
        }

        errors.Add($"{path} must be a string");
        return null;
    }

    private static bool? Bool(JObject owner, string member, string path, List<string> errors)
    {
        if (!owner.TryGetValue(member, out var value) || value.Type == JTokenType.Null)
        {
            return null;
        }

        if (value.Type == JTokenType.Boolean && SettingRules.Flag.TryRead(value.Value<bool>() ? "true" : "false", out var flag))
        {
            return flag;
        }

        errors.Add($"{path} must be {SettingRules.Flag.Takes}");
        return null;
    }

    private static string Shorten(string value) => value.Length <= 64 ? value : value[..61] + "...";
}
