using System.Globalization;

namespace ConnectedRegistry.Twin;

/// <summary>The IoT Hub MQTT topics a module uses (IOTEDGE.md §4), built and parsed in one place.</summary>
public static class IotHubTopics
{
    public const string TwinResponses = "$iothub/twin/res/#";
    public const string DesiredPatches = "$iothub/twin/PATCH/properties/desired/#";
    public const string MethodRequests = "$iothub/methods/POST/#";

    private const string TwinResponsePrefix = "$iothub/twin/res/";
    private const string DesiredPatchPrefix = "$iothub/twin/PATCH/properties/desired/";
    private const string MethodRequestPrefix = "$iothub/methods/POST/";

    public static string TwinGet(string requestId) => $"$iothub/twin/GET/?$rid={requestId}";

    public static string ReportedPatch(string requestId) => $"$iothub/twin/PATCH/properties/reported/?$rid={requestId}";

    public static string MethodResponse(int status, string requestId) => $"$iothub/methods/res/{status.ToString(CultureInfo.InvariantCulture)}/?$rid={requestId}";

    public static string TwinResponse(int status, string requestId, long? version = null) =>
        $"{TwinResponsePrefix}{status.ToString(CultureInfo.InvariantCulture)}/?$rid={requestId}" + (version is null ? string.Empty : $"&$version={version.Value.ToString(CultureInfo.InvariantCulture)}");

    public static string DesiredPatch(long version) => $"{DesiredPatchPrefix}?$version={version.ToString(CultureInfo.InvariantCulture)}";

    public static string MethodRequest(string name, string requestId) => $"{MethodRequestPrefix}{name}/?$rid={requestId}";

    /// <summary><c>$iothub/twin/res/{status}/?$rid={rid}[&amp;$version=n]</c>.</summary>
    public static bool TryParseTwinResponse(string topic, out int status, out string requestId, out long? version)
    {
        status = 0;
        requestId = string.Empty;
        version = null;
        if (!topic.StartsWith(TwinResponsePrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = topic[TwinResponsePrefix.Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || !int.TryParse(rest[..slash], NumberStyles.None, CultureInfo.InvariantCulture, out status))
        {
            return false;
        }

        var query = Query(rest[(slash + 1)..]);
        if (!query.TryGetValue("$rid", out var rid))
        {
            return false;
        }

        requestId = rid;
        if (query.TryGetValue("$version", out var v) && long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
        {
            version = parsed;
        }

        return true;
    }

    /// <summary><c>$iothub/twin/PATCH/properties/desired/?$version=n</c>.</summary>
    public static bool TryParseDesiredPatch(string topic, out long? version)
    {
        version = null;
        if (!topic.StartsWith(DesiredPatchPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        if (Query(topic[DesiredPatchPrefix.Length..]).TryGetValue("$version", out var v) && long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
        {
            version = parsed;
        }

        return true;
    }

    /// <summary><c>$iothub/methods/POST/{name}/?$rid={rid}</c>.</summary>
    public static bool TryParseMethodRequest(string topic, out string name, out string requestId)
    {
        name = string.Empty;
        requestId = string.Empty;
        if (!topic.StartsWith(MethodRequestPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = topic[MethodRequestPrefix.Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || !Query(rest[(slash + 1)..]).TryGetValue("$rid", out var rid))
        {
            return false;
        }

        name = Uri.UnescapeDataString(rest[..slash]);
        requestId = rid;
        return true;
    }

    private static Dictionary<string, string> Query(string part)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var query = part.StartsWith('?') ? part[1..] : part;
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                result[Uri.UnescapeDataString(pair[..equals])] = Uri.UnescapeDataString(pair[(equals + 1)..]);
            }
        }

        return result;
    }
}
