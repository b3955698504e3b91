using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// <c>parent</c>: the parent registry's endpoint (with the nested-edge placeholders resolved), the sync token's name
/// and the hosts trusted as its token realm.
/// </summary>
public static partial class DesiredPropertiesParser
{
    /// <summary>The nested-edge placeholders a parent endpoint may use; replaced by <c>IOTEDGE_PARENTHOSTNAME</c>.</summary>
    public static readonly string[] ParentHostPlaceholders = ["$IOTEDGE_PARENTHOSTNAME", "$upstream"];

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
}
