using System.Globalization;
using System.Xml;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using Cronos;
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

    public static readonly TimeSpan MinWindow = TimeSpan.FromHours(1);
    public static readonly TimeSpan MaxWindow = TimeSpan.FromDays(7);
    public static readonly TimeSpan MinMessageTtl = TimeSpan.FromDays(1);
    public static readonly TimeSpan MaxMessageTtl = TimeSpan.FromDays(90);

    /// <summary>
    /// <c>sync.parentIdleTimeout</c>: at least a second (shorter, a busy parent's pauses would end good transfers), at
    /// most an hour (longer, a stalled parent holds its download and every client of it for as long).
    /// </summary>
    public static readonly TimeSpan MinParentIdleTimeout = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxParentIdleTimeout = TimeSpan.FromHours(1);

    private static readonly string[] LogLevels = ["Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"];

    // The schema's member names, in one place: the top level, its fixed objects, and the entries of its maps.
    private static readonly string[] TopMembers = ["schemaVersion", "name", "mode", "parent", "sync", "clientTokens", "children", "garbageCollection", "anonymousPull", "logLevel", "notifications", "storage", "bundles"];

    private static readonly (string Member, string[] Known)[] ObjectMembers =
    [
        ("parent", ["endpoint", "syncTokenName", "trustedRealmHosts"]),
        ("sync", ["schedule", "window", "messageTtl", "repositories", "bandwidth", "onDemand", "platforms", "filters", "parentIdleTimeout"]),
        ("garbageCollection", ["enabled", "schedule", "deleteUntaggedManifests"]),
        ("storage", ["minFreeBytes", "retention"]),
        ("bundles", ["trustedKeys"]),
    ];

    // Objects inside those, by path, checked alike: a misspelt limitMbps is a warning and a case variant an error,
    // rather than a link left without the cap the operator wrote.
    private static readonly (string Path, string[] Known)[] NestedObjectMembers =
    [
        ("sync.bandwidth", ["limitMbps", "schedules"]),
    ];

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

    /// <summary>The nested-edge placeholders a parent endpoint may use; replaced by <c>IOTEDGE_PARENTHOSTNAME</c>.</summary>
    public static readonly string[] ParentHostPlaceholders = ["$IOTEDGE_PARENTHOSTNAME", "$upstream"];

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

        var schemaVersion = "1.0";
        if (doc.TryGetValue("schemaVersion", out var schemaToken))
        {
            schemaVersion = schemaToken.Type == JTokenType.String ? schemaToken.Value<string>()! : schemaToken.ToString();
            if (!TryMajor(schemaVersion, out var major))
            {
                return Reject($"schemaVersion '{schemaVersion}' is not a version (expected for example '1.0')");
            }

            if (major != SupportedMajorVersion)
            {
                return Reject($"schemaVersion '{schemaVersion}' is not supported (this module reads {SupportedMajorVersion}.x)");
            }
        }

        CheckMembers(doc, errors, warnings);
        string? name = null;
        if (Str(doc, "name", "name", errors) is { } nameValue)
        {
            if (!AuthRules.IsValidRegistryName(nameValue))
            {
                errors.Add($"name '{Shorten(nameValue)}' must be {MinNameLength} to {MaxNameLength} characters, start with a letter and contain only letters, digits, '-' or '_'");
            }
            else
            {
                name = nameValue;
            }
        }

        var mode = ParseMode(doc, "mode", "mode", RegistryMode.ReadWrite, errors);
        var parent = ParseParent(doc, environment, errors);
        var sync = ParseSync(doc, errors, warnings);
        var tokens = ParseClientTokens(doc, errors);
        var children = ParseChildren(doc, mode, errors, warnings);
        var gc = ParseGarbageCollection(doc, errors);
        var notifications = ParseNotifications(doc, errors);
        var storage = ParseStorage(doc, errors) with { Retention = ParseRetention(doc, errors, warnings) };
        var bundles = ParseBundles(doc, errors);

        var anonymousPull = false;
        if (doc.TryGetValue("anonymousPull", out var anonymous) && anonymous.Type != JTokenType.Null)
        {
            if (anonymous.Type == JTokenType.Boolean)
            {
                anonymousPull = anonymous.Value<bool>();
            }
            else
            {
                errors.Add("anonymousPull must be true or false");
            }
        }

        LogLevel? explicitLevel = null;
        if (Str(doc, "logLevel", "logLevel", errors) is { } level)
        {
            var known = LogLevels.FirstOrDefault(l => string.Equals(l, level, StringComparison.OrdinalIgnoreCase));
            if (known is null)
            {
                errors.Add($"logLevel '{Shorten(level)}' must be one of {string.Join(", ", LogLevels)}");
            }
            else
            {
                explicitLevel = Enum.Parse<LogLevel>(known);
            }
        }

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

        static DesiredParseResult Reject(string error) => new(null, [error], null);
    }

    /// <summary>
    /// Case variants of known members and look-alikes of security members are errors; members nobody knows are
    /// warnings.
    /// </summary>
    private static void CheckMembers(JObject doc, List<string> errors, List<string> warnings)
    {
        CheckObject(doc, null, TopMembers, SecurityTopMembers, errors, warnings);
        foreach (var (member, known) in ObjectMembers)
        {
            if (doc[member] is JObject obj)
            {
                CheckObject(obj, member, known, [], errors, warnings);
            }
        }

        foreach (var (path, known) in NestedObjectMembers)
        {
            if (At(doc, path) is { } obj)
            {
                CheckObject(obj, path, known, [], errors, warnings);
            }
        }

        foreach (var (member, known) in MapEntryMembers)
        {
            var security = SecurityEntryMembers.First(s => s.Member == member).Security;
            if (doc[member] is JObject map)
            {
                foreach (var entry in map.Properties())
                {
                    if (entry.Value is JObject obj)
                    {
                        CheckObject(obj, $"{member}.{entry.Name}", known, security, errors, warnings);
                    }
                }
            }
        }
    }

    /// <summary>The object at a dotted path of <paramref name="doc"/>, or null when any step is missing or not an object.</summary>
    private static JObject? At(JObject doc, string path)
    {
        JObject? current = doc;
        foreach (var step in path.Split('.'))
        {
            current = current?[step] as JObject;
        }

        return current;
    }

    private static void CheckObject(JObject obj, string? path, string[] known, string[] security, List<string> errors, List<string> warnings)
    {
        foreach (var property in obj.Properties())
        {
            if (known.Contains(property.Name, StringComparer.Ordinal))
            {
                continue;
            }

            var name = path is null ? property.Name : $"{path}.{property.Name}";
            var meant = known.FirstOrDefault(k => string.Equals(k, property.Name, StringComparison.OrdinalIgnoreCase));
            var lookalike = meant is null ? security.FirstOrDefault(k => MemberLikeness.IsNearMiss(property.Name, k)) : null;
            if (meant is not null)
            {
                errors.Add($"'{Shorten(name)}' is not a member; did you mean '{(path is null ? meant : $"{path}.{meant}")}'? (member names are case-sensitive)");
            }
            else if (lookalike is not null)
            {
                var visible = MemberLikeness.Visible(Shorten(name));
                errors.Add($"'{visible}' is not a member but looks like the security member '{(path is null ? lookalike : $"{path}.{lookalike}")}': the document is rejected rather than applied without it");
            }
            else
            {
                warnings.Add(Shorten(name));
            }
        }
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

    private static ParentSettings? ParseParent(JObject doc, Func<string, string?>? environment, List<string> errors)
    {
        if (Obj(doc, "parent", "parent", errors) is not { } parent)
        {
            return null;
        }

        Uri? endpoint = null;
        var text = Str(parent, "endpoint", "parent.endpoint", errors);
        var placeholder = text is null ? null : ParentHostPlaceholders.FirstOrDefault(p => text.Contains(p, StringComparison.Ordinal));
        if (placeholder is not null)
        {
            var parentHost = environment?.Invoke("IOTEDGE_PARENTHOSTNAME");
            if (string.IsNullOrWhiteSpace(parentHost))
            {
                errors.Add($"parent.endpoint uses {placeholder} but IOTEDGE_PARENTHOSTNAME is not set (the device is not a nested IoT Edge device)");
                text = null;
                placeholder = "reported";
            }
            else
            {
                text = text!.Replace(placeholder, parentHost.Trim(), StringComparison.Ordinal);
            }
        }

        if (text is null)
        {
            if (placeholder is null)
            {
                errors.Add("parent.endpoint is required when parent is set");
            }
        }
        else if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || string.IsNullOrEmpty(uri.Host))
        {
            errors.Add("parent.endpoint must be an absolute http or https URL");
        }
        else if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            // Never echo it: the user info may hold a password.
            errors.Add("parent.endpoint must not contain credentials (the sync token password comes from the environment)");
        }
        else
        {
            endpoint = uri;
        }

        var tokenName = Str(parent, "syncTokenName", "parent.syncTokenName", errors);
        if (tokenName is not null && !AuthRules.IsValidTokenName(tokenName))
        {
            errors.Add($"parent.syncTokenName '{Shorten(tokenName)}' must be 1 to 50 letters, digits, '-' or '_'");
        }

        var realmHosts = TrustedRealmHosts(parent, errors);
        return endpoint is null ? null : new ParentSettings { Endpoint = endpoint, SyncTokenName = tokenName, TrustedRealmHosts = realmHosts };
    }

    /// <summary>
    /// <c>parent.trustedRealmHosts</c>: host names or IP addresses (no scheme, port, path or wildcard), lower case, each
    /// once; an IPv6 address in brackets, as a URL's host is.
    /// </summary>
    private static List<string> TrustedRealmHosts(JObject parent, List<string> errors)
    {
        var hosts = new List<string>();
        foreach (var entry in StringList(parent, "trustedRealmHosts", "parent.trustedRealmHosts", errors) ?? [])
        {
            var bare = entry.Length > 2 && entry[0] == '[' && entry[^1] == ']' ? entry[1..^1] : entry;
            var kind = entry.Length <= 253 ? Uri.CheckHostName(bare) : UriHostNameType.Unknown;
            if (kind is UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6)
            {
                var host = kind == UriHostNameType.IPv6 ? $"[{bare.ToLowerInvariant()}]" : bare.ToLowerInvariant();
                if (!hosts.Contains(host))
                {
                    hosts.Add(host);
                }
            }
            else
            {
                errors.Add($"parent.trustedRealmHosts: '{Shorten(entry)}' is not a host name (no scheme, port, path or wildcard)");
            }
        }

        return hosts;
    }

    private static SyncSettings ParseSync(JObject doc, List<string> errors, List<string> warnings)
    {
        var defaults = new SyncSettings();
        if (Obj(doc, "sync", "sync", errors) is not { } sync)
        {
            return defaults;
        }

        var schedule = Str(sync, "schedule", "sync.schedule", errors) ?? defaults.Schedule;
        if (!IsCron(schedule))
        {
            errors.Add($"sync.schedule '{Shorten(schedule)}' is not a valid 5-field cron expression");
        }

        var window = Duration(sync, "window", "sync.window", MinWindow, MaxWindow, "PT1H", "P7D", errors);
        var ttl = Duration(sync, "messageTtl", "sync.messageTtl", MinMessageTtl, MaxMessageTtl, "P1D", "P90D", errors) ?? defaults.MessageTtl;
        var repositories = RepositoryList(sync, "repositories", "sync.repositories", errors);
        var bandwidth = ParseBandwidth(sync, errors);
        var onDemand = Bool(sync, "onDemand", "sync.onDemand", errors) ?? defaults.OnDemand;
        var platforms = PlatformList(sync, "platforms", "sync.platforms", errors) ?? [];
        var filters = FilterList(sync, "filters", "sync.filters", errors, warnings);
        var idle = Duration(sync, "parentIdleTimeout", "sync.parentIdleTimeout", MinParentIdleTimeout, MaxParentIdleTimeout, "PT1S", "PT1H", errors) ?? defaults.ParentIdleTimeout;
        return new SyncSettings
        {
            Schedule = schedule.Trim(), Window = window, MessageTtl = ttl, Repositories = repositories, Bandwidth = bandwidth, OnDemand = onDemand,
            Platforms = platforms, Filters = filters, ParentIdleTimeout = idle,
        };
    }

    /// <summary>
    /// Reads the shape of each token (an object; strings; a scope map of arrays of strings) and hands what it read to
    /// <see cref="AuthRules"/>, the rules <c>token create</c> uses: names, hashes, limits, patterns and actions are
    /// judged in that one place. A token whose shape is wrong is reported for its shape only.
    /// </summary>
    private static Dictionary<string, ClientTokenSettings> ParseClientTokens(JObject doc, List<string> errors)
    {
        var result = new Dictionary<string, ClientTokenSettings>(StringComparer.Ordinal);
        if (Obj(doc, "clientTokens", "clientTokens", errors) is not { } tokens)
        {
            return result;
        }

        var entries = tokens.Properties().Where(p => p.Value.Type != JTokenType.Null).ToList();
        errors.AddRange(AuthRules.ValidateTokenCount(entries.Count));
        foreach (var entry in entries)
        {
            var path = $"clientTokens.{Shorten(entry.Name)}";
            if (entry.Value is not JObject token)
            {
                errors.Add($"{path} must be an object");
                continue;
            }

            var before = errors.Count;
            var hash = Str(token, "passwordHash", $"{path}.passwordHash", errors);
            var scopeMap = ScopeMap(token, $"{path}.scopeMap", errors);
            var shapeRight = errors.Count == before;
            if (shapeRight)
            {
                errors.AddRange(AuthRules.ValidateClientToken(entry.Name, new ClientTokenSettings { PasswordHash = hash ?? "", ScopeMap = scopeMap! }));
            }

            var enabled = true;
            if (Str(token, "status", $"{path}.status", errors) is { } status)
            {
                if (string.Equals(status, "enabled", StringComparison.OrdinalIgnoreCase))
                {
                    enabled = true;
                }
                else if (string.Equals(status, "disabled", StringComparison.OrdinalIgnoreCase))
                {
                    enabled = false;
                }
                else
                {
                    errors.Add($"{path}.status '{Shorten(status)}' must be enabled or disabled");
                }
            }

            DateTimeOffset? expiry = null;
            if (token.TryGetValue("expiry", out var expiryToken) && expiryToken.Type != JTokenType.Null)
            {
                if (expiryToken.Type == JTokenType.String && DateTimeOffset.TryParse(expiryToken.Value<string>(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
                {
                    expiry = parsed;
                }
                else
                {
                    errors.Add($"{path}.expiry must be an ISO-8601 date and time");
                }
            }

            if (!shapeRight)
            {
                continue;
            }

            var settings = new ClientTokenSettings { PasswordHash = hash!, ScopeMap = scopeMap!, Enabled = enabled, Expiry = expiry };
            result[entry.Name] = settings;
        }

        return result;
    }

    /// <summary>The scope map's shape: an object of arrays of strings (absent: empty, which the rules refuse); null when the shape is wrong.</summary>
    private static Dictionary<string, IReadOnlyList<string>>? ScopeMap(JObject token, string path, List<string> errors)
    {
        var result = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        if (!token.TryGetValue("scopeMap", out var value) || value.Type == JTokenType.Null)
        {
            return result;
        }

        if (value is not JObject map)
        {
            errors.Add($"{path} must be an object of repository pattern to actions");
            return null;
        }

        var ok = true;
        foreach (var entry in map.Properties().Where(p => p.Value.Type != JTokenType.Null))
        {
            if (entry.Value is not JArray actions || actions.Any(a => a.Type != JTokenType.String))
            {
                errors.Add($"{path}.{Shorten(entry.Name)} must be an array of action names");
                ok = false;
                continue;
            }

            result[entry.Name] = actions.Select(a => a.Value<string>()!).Distinct(StringComparer.Ordinal).ToList();
        }

        return ok ? result : null;
    }

    /// <summary>Each child's shape (an object; strings; an array of repository strings), then <see cref="AuthRules.ValidateChild"/>, as <c>token create --sync</c>.</summary>
    private static Dictionary<string, ChildRegistrySettings> ParseChildren(JObject doc, RegistryMode mode, List<string> errors, List<string> warnings)
    {
        var result = new Dictionary<string, ChildRegistrySettings>(StringComparer.Ordinal);
        if (Obj(doc, "children", "children", errors) is not { } children)
        {
            return result;
        }

        foreach (var entry in children.Properties().Where(p => p.Value.Type != JTokenType.Null))
        {
            var path = $"children.{Shorten(entry.Name)}";
            if (entry.Value is not JObject child)
            {
                errors.Add($"{path} must be an object");
                continue;
            }

            var before = errors.Count;
            var childMode = ParseMode(child, "mode", $"{path}.mode", RegistryMode.ReadOnly, errors);
            var hash = Str(child, "syncTokenPasswordHash", $"{path}.syncTokenPasswordHash", errors);
            var repositories = StringList(child, "repositories", $"{path}.repositories", errors);
            var shapeRight = errors.Count == before;
            var platforms = PlatformList(child, "platforms", $"{path}.platforms", errors) ?? [];
            var filters = FilterList(child, "filters", $"{path}.filters", errors, warnings);
            if (!shapeRight)
            {
                continue;
            }

            var settings = new ChildRegistrySettings
            {
                Mode = childMode,
                SyncTokenPasswordHash = hash ?? "",
                Repositories = repositories!,
                Platforms = platforms,
                Filters = filters,
            };
            errors.AddRange(AuthRules.ValidateChild(entry.Name, settings, mode));
            result[entry.Name] = settings;
        }

        return result;
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

    private static GarbageCollectionSettings ParseGarbageCollection(JObject doc, List<string> errors)
    {
        var defaults = new GarbageCollectionSettings();
        if (Obj(doc, "garbageCollection", "garbageCollection", errors) is not { } gc)
        {
            return defaults;
        }

        var enabled = Bool(gc, "enabled", "garbageCollection.enabled", errors) ?? defaults.Enabled;
        var schedule = Str(gc, "schedule", "garbageCollection.schedule", errors) ?? defaults.Schedule;
        if (!IsCron(schedule))
        {
            errors.Add($"garbageCollection.schedule '{Shorten(schedule)}' is not a valid 5-field cron expression");
        }

        var untagged = Bool(gc, "deleteUntaggedManifests", "garbageCollection.deleteUntaggedManifests", errors) ?? defaults.DeleteUntaggedManifests;
        return new GarbageCollectionSettings { Enabled = enabled, Schedule = schedule.Trim(), DeleteUntaggedManifests = untagged };
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

    private static StorageSettings ParseStorage(JObject doc, List<string> errors)
    {
        if (Obj(doc, "storage", "storage", errors) is not { } storage ||
            !storage.TryGetValue("minFreeBytes", out var value) || value.Type == JTokenType.Null)
        {
            return new StorageSettings();
        }

        if (value.Type == JTokenType.Integer && value is JValue { Value: long bytes } && bytes >= 0)
        {
            return new StorageSettings { MinFreeBytes = bytes };
        }

        errors.Add($"storage.minFreeBytes '{Shorten(value.ToString())}' must be a whole number of bytes from 0 to {long.MaxValue}");
        return new StorageSettings();
    }

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

    private static bool IsCron(string expression)
    {
        try
        {
            // Standard = exactly five fields (minute hour day month weekday).
            CronExpression.Parse(expression.Trim(), CronFormat.Standard);
            return true;
        }
        catch (CronFormatException)
        {
            return false;
        }
    }

    private static TimeSpan? Duration(JObject owner, string member, string path, TimeSpan min, TimeSpan max, string minText, string maxText, List<string> errors)
    {
        var text = Str(owner, member, path, errors);
        if (text is null)
        {
            return null;
        }

        if (TryParseDuration(text, out var value) && value >= min && value <= max)
        {
            return value;
        }

        errors.Add($"{path} '{Shorten(text)}' must be an ISO-8601 duration from {minText} to {maxText}");
        return null;
    }

    /// <summary>ISO-8601 durations such as PT3H, P2D, P1DT12H (no years or months: their length varies).</summary>
    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text) || !text.StartsWith('P') || text.Contains('Y', StringComparison.Ordinal) || text.Split('T')[0].Contains('M', StringComparison.Ordinal))
        {
            return false;
        }

        try
        {
            value = XmlConvert.ToTimeSpan(text);
            return value > TimeSpan.Zero;
        }
        catch (FormatException)
        {
            return false;
        }
        catch (OverflowException)
        {
            return false;
        }
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

        if (value.Type == JTokenType.Boolean)
        {
            return value.Value<bool>();
        }

        errors.Add($"{path} must be true or false");
        return null;
    }

    private static string Shorten(string value) => value.Length <= 64 ? value : value[..61] + "...";
}
