using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Oci;

/// <summary>What the registry needs to know about a manifest it stores: its type and what it points at.</summary>
public sealed record ParsedManifest(
    string MediaType,
    Descriptor? Config,
    IReadOnlyList<Descriptor> Layers,
    IReadOnlyList<Descriptor> Manifests,
    Descriptor? Subject,
    string? ArtifactType,
    IReadOnlyDictionary<string, string>? Annotations)
{
    public bool IsIndex => MediaTypes.IsIndex(MediaType);

    /// <summary>The blobs this manifest needs (config and layers; foreign layers with URLs are not required).</summary>
    public IEnumerable<Descriptor> RequiredBlobs =>
        (Config is null ? Layers : Layers.Prepend(Config)).Where(d => d.Urls is not { Count: > 0 });

    /// <summary>The artifact type a referrers listing reports: <c>artifactType</c>, else the config's media type.</summary>
    public string? EffectiveArtifactType => ArtifactType ?? (IsIndex ? null : Config?.MediaType);
}

/// <summary>Thrown for a manifest that is not valid JSON or not a manifest this registry stores.</summary>
public sealed class ManifestFormatException(string message) : Exception(message);

/// <summary>
/// Parses OCI image manifests and indexes and Docker schema 2 manifests and manifest lists from the
/// exact bytes a client sent. The bytes themselves are stored unchanged; this only extracts references.
/// </summary>
public static class ManifestParser
{
    private const int MaxDepth = 64;

    private static readonly JsonSerializerSettings Settings = new()
    {
        DateParseHandling = DateParseHandling.None,
        FloatParseHandling = FloatParseHandling.Decimal,
        MaxDepth = MaxDepth,
    };

    // Strict decoding: an invalid byte is an error, not a silent U+FFFD.
    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Why a Docker schema 1 manifest is refused, in words a user can act on.</summary>
    public const string Schema1Refused = "Docker image manifest schema 1 is deprecated and not supported: push the image as Docker schema 2 or OCI (a current docker, skopeo or oras does)";

    /// <param name="content">The manifest bytes.</param>
    /// <param name="contentType">The request's Content-Type (media type only), or null.</param>
    public static ParsedManifest Parse(ReadOnlySpan<byte> content, string? contentType)
    {
        var text = StrictJson(content);
        JObject root;
        try
        {
            using var reader = new JsonTextReader(new StringReader(text))
            {
                DateParseHandling = Settings.DateParseHandling,
                FloatParseHandling = Settings.FloatParseHandling,
                MaxDepth = Settings.MaxDepth,
            };
            var token = JToken.ReadFrom(reader);
            if (reader.Read() && reader.TokenType != JsonToken.Comment)
            {
                throw new ManifestFormatException("trailing data after the manifest");
            }

            root = token as JObject ?? throw new ManifestFormatException("a manifest must be a JSON object");
        }
        catch (JsonException ex)
        {
            throw new ManifestFormatException("manifest is not valid JSON: " + ex.Message);
        }

        var schemaVersion = root["schemaVersion"];
        if (contentType is MediaTypes.DockerSchema1 or MediaTypes.DockerSchema1Signed
            || (TryInt64(schemaVersion, out var version) && version == 1))
        {
            throw new ManifestFormatException(Schema1Refused);
        }

        if (!TryInt64(schemaVersion, out version) || version != 2)
        {
            throw new ManifestFormatException("schemaVersion must be 2");
        }

        var bodyType = OptionalString(root, "mediaType");
        var headerType = string.IsNullOrEmpty(contentType) ? null : contentType;
        if (headerType is not null && !MediaTypes.IsManifest(headerType))
        {
            // A generic type (application/json, octet-stream) says nothing; anything else is an unsupported manifest.
            headerType = headerType is "application/json" or "application/octet-stream" or "text/plain"
                ? null
                : throw new ManifestFormatException($"unsupported manifest media type '{headerType}'");
        }

        if (bodyType is not null && headerType is not null && bodyType != headerType)
        {
            throw new ManifestFormatException("the manifest's mediaType does not match Content-Type");
        }

        var mediaType = bodyType ?? headerType ?? (root["manifests"] is not null ? MediaTypes.OciIndex : MediaTypes.OciManifest);
        if (!MediaTypes.IsManifest(mediaType))
        {
            throw new ManifestFormatException($"unsupported manifest media type '{mediaType}'");
        }

        if ((mediaType is MediaTypes.DockerManifest or MediaTypes.DockerManifestList) && bodyType is null)
        {
            throw new ManifestFormatException("a Docker manifest must carry its mediaType");
        }

        var artifactType = OptionalString(root, "artifactType");
        var subject = root["subject"] is { Type: not JTokenType.Null } s ? ParseDescriptor(s, "subject") : null;
        var annotations = ParseAnnotations(root["annotations"], "annotations");

        if (MediaTypes.IsIndex(mediaType))
        {
            if (root["config"] is not null || root["layers"] is not null)
            {
                throw new ManifestFormatException("an index has no config or layers");
            }

            var manifests = ParseDescriptors(root["manifests"], "manifests", required: true);
            return new ParsedManifest(mediaType, null, [], manifests, subject, artifactType, annotations);
        }

        if (root["manifests"] is not null)
        {
            throw new ManifestFormatException("an image manifest has no manifests list");
        }

        var configToken = root["config"] ?? throw new ManifestFormatException("config is required");
        var config = ParseDescriptor(configToken, "config");
        var layers = ParseDescriptors(root["layers"], "layers", required: mediaType == MediaTypes.DockerManifest);
        return new ParsedManifest(mediaType, config, layers, [], subject, artifactType, annotations);
    }

    /// <summary>
    /// The manifest as text, when it is strict JSON in valid UTF-8, as distribution's decoder demands: no invalid
    /// or overlong bytes, no byte order mark, no comments, no trailing commas, single quotes, bare names or NaN,
    /// one value only. The lenient parser that extracts fields would otherwise accept all of these.
    /// </summary>
    private static string StrictJson(ReadOnlySpan<byte> content)
    {
        string text;
        try
        {
            text = StrictUtf8.GetString(content);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw new ManifestFormatException("manifest is not valid UTF-8 JSON: it contains bytes that are not UTF-8");
        }

        try
        {
            var reader = new System.Text.Json.Utf8JsonReader(content, new System.Text.Json.JsonReaderOptions { MaxDepth = MaxDepth });
            while (reader.Read())
            {
            }
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new ManifestFormatException("manifest is not valid UTF-8 JSON: " + ex.Message);
        }

        return text;
    }

    /// <summary>An integer that fits in 64 bits (a larger one is held as a BigInteger, which is no count or version here).</summary>
    private static bool TryInt64(JToken? token, out long value)
    {
        if (token is JValue { Type: JTokenType.Integer, Value: long number })
        {
            value = number;
            return true;
        }

        value = 0;
        return false;
    }

    private static string? OptionalString(JObject obj, string name)
    {
        var token = obj[name];
        if (token is null || token.Type == JTokenType.Null)
        {
            return null;
        }

        return token.Type == JTokenType.String
            ? token.Value<string>()
            : throw new ManifestFormatException($"{name} must be a string");
    }

    private static IReadOnlyList<Descriptor> ParseDescriptors(JToken? token, string field, bool required)
    {
        if (token is null || token.Type == JTokenType.Null)
        {
            return required ? throw new ManifestFormatException($"{field} is required") : [];
        }

        if (token is not JArray array)
        {
            throw new ManifestFormatException($"{field} must be an array");
        }

        var list = new List<Descriptor>(array.Count);
        for (var i = 0; i < array.Count; i++)
        {
            list.Add(ParseDescriptor(array[i], $"{field}[{i}]"));
        }

        return list;
    }

    private static Descriptor ParseDescriptor(JToken token, string field)
    {
        if (token is not JObject obj)
        {
            throw new ManifestFormatException($"{field} must be a descriptor object");
        }

        var mediaType = OptionalString(obj, "mediaType");
        if (string.IsNullOrEmpty(mediaType))
        {
            throw new ManifestFormatException($"{field}.mediaType is required");
        }

        var digestText = OptionalString(obj, "digest");
        if (!Digest.TryParse(digestText, out var digest))
        {
            throw new ManifestFormatException($"{field}.digest is not a valid digest");
        }

        if (!TryInt64(obj["size"], out var size) || size < 0)
        {
            throw new ManifestFormatException($"{field}.size must be a non-negative integer");
        }

        IReadOnlyList<string>? urls = null;
        if (obj["urls"] is JArray urlArray)
        {
            urls = urlArray.Select(u => u.Type == JTokenType.String ? u.Value<string>()! : throw new ManifestFormatException($"{field}.urls must be strings")).ToList();
        }

        return new Descriptor(
            mediaType,
            digest,
            size,
            OptionalString(obj, "artifactType"),
            ParseAnnotations(obj["annotations"], field + ".annotations"),
            urls,
            ParsePlatform(obj["platform"]));
    }

    /// <summary>An index entry's platform; null when absent or not an object of strings (it only guides the sync filter).</summary>
    private static DescriptorPlatform? ParsePlatform(JToken? token) =>
        token is JObject obj
            ? new DescriptorPlatform(StringOrNull(obj["os"]), StringOrNull(obj["architecture"]), StringOrNull(obj["variant"]))
            : null;

    private static string? StringOrNull(JToken? token) => token?.Type == JTokenType.String ? token.Value<string>() : null;

    private static Dictionary<string, string>? ParseAnnotations(JToken? token, string field)
    {
        if (token is null || token.Type == JTokenType.Null)
        {
            return null;
        }

        if (token is not JObject obj)
        {
            throw new ManifestFormatException($"{field} must be an object of strings");
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in obj.Properties())
        {
            result[property.Name] = property.Value.Type == JTokenType.String
                ? property.Value.Value<string>()!
                : throw new ManifestFormatException($"{field} values must be strings");
        }

        return result;
    }
}
