using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary><c>clientTokens</c>: each token's shape, judged by <see cref="AuthRules"/> as <c>token create</c> is.</summary>
public static partial class DesiredPropertiesParser
{
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

            var enabled = TokenStatus(token, path, errors);
            var expiry = TokenExpiry(token, path, errors);
            if (!shapeRight)
            {
                continue;
            }

            var settings = new ClientTokenSettings { PasswordHash = hash!, ScopeMap = scopeMap!, Enabled = enabled, Expiry = expiry };
            result[entry.Name] = settings;
        }

        return result;
    }

    /// <summary><c>status</c>: enabled (also when absent) or disabled, in any case.</summary>
    private static bool TokenStatus(JObject token, string path, List<string> errors)
    {
        if (Str(token, "status", $"{path}.status", errors) is not { } status
            || string.Equals(status, "enabled", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (string.Equals(status, "disabled", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        errors.Add($"{path}.status '{Shorten(status)}' must be enabled or disabled");
        return true;
    }

    /// <summary><c>expiry</c>: an ISO-8601 date and time (UTC when it names no offset: <see cref="SettingRules.Instant"/>, as <c>token create --expiry</c>); null when absent.</summary>
    private static DateTimeOffset? TokenExpiry(JObject token, string path, List<string> errors)
    {
        if (!token.TryGetValue("expiry", out var expiryToken) || expiryToken.Type == JTokenType.Null)
        {
            return null;
        }

        if (expiryToken.Type != JTokenType.String)
        {
            errors.Add($"{path}.expiry must be {SettingRules.Instant.Takes}");
            return null;
        }

        var text = expiryToken.Value<string>()!;
        if (SettingRules.Instant.TryRead(text, out var parsed))
        {
            return parsed;
        }

        errors.Add($"{path}.expiry '{Shorten(text)}' must be {SettingRules.Instant.Takes}");
        return null;
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
}
