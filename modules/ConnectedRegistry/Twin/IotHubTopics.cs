using System.Globalization;
using ConnectedRegistry.Core;

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

    /// <summary>
    /// A device-to-cloud message on a module output, with its properties in the topic as the device SDK puts them:
    /// <c>devices/{d}/modules/{m}/messages/events/%24.mid=…&amp;%24.ct=application%2Fjson&amp;%24.ce=utf-8&amp;%24.on={output}&amp;type=…</c>
    /// (names and values URL-encoded, system properties with the <c>$.</c> prefix).
    /// </summary>
    public static string OutputMessage(string deviceId, string moduleId, ModuleMessage message)
    {
        var properties = new List<KeyValuePair<string, string>>
        {
            new("$.mid", message.MessageId),
            new("$.ct", ModuleMessage.ContentType),
            new("$.ce", ModuleMessage.ContentEncoding),
            new("$.on", message.Output),
        };
        properties.AddRange(message.Properties);
        var query = string.Join('&', properties.Select(p => $"{Uri.EscapeDataString(p.Key)}={Uri.EscapeDataString(p.Value)}"));
        return $"devices/{Uri.EscapeDataString(deviceId)}/modules/{Uri.EscapeDataString(moduleId)}/messages/events/{query}";
    }

    /// <summary>The properties of a module message topic (<see cref="OutputMessage"/>), decoded; null for another topic.</summary>
    public static Dictionary<string, string>? TryParseOutputMessage(string topic)
    {
        const string Marker = "/messages/events/";
        var at = topic.IndexOf(Marker, StringComparison.Ordinal);
        return topic.StartsWith("devices/", StringComparison.Ordinal) && at > 0 ? Query(topic[(at + Marker.Length)..]) : null;
    }

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
