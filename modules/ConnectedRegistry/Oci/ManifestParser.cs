using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

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
/// The bytes are read once, by one strict JSON reader (System.Text.Json's <see cref="JsonDocument"/>), after a check
/// that they are UTF-8; the fields are then taken from the document. A name given twice in an object counts with its
/// last value, an escaped lone surrogate is read as U+FFFD (not refused), and a number that is
/// not an integer must fit a <see cref="decimal"/>: as the JSON.NET reader this parser used before did, so that no
/// manifest it accepted is refused now and none it refused is accepted.
/// </summary>
public static class ManifestParser
{
    private const int MaxDepth = 64;

    // Strict: no comments, no trailing commas, one value only (the defaults), nesting as deep as before.
    private static readonly JsonDocumentOptions Strict = new() { MaxDepth = MaxDepth };

    /// <summary>Why a Docker schema 1 manifest is refused, in words a user can act on.</summary>
    public const string Schema1Refused = "Docker image manifest schema 1 is deprecated and not supported: push the image as Docker schema 2 or OCI (a current docker, skopeo or oras does)";

    // The members read, by object: the root, a descriptor, a platform.
    private static readonly string[] RootMembers = ["schemaVersion", "mediaType", "artifactType", "subject", "annotations", "config", "layers", "manifests"];
    private const int SchemaVersion = 0, MediaType = 1, ArtifactType = 2, Subject = 3, Annotations = 4, Config = 5, Layers = 6, Manifests = 7;
    private static readonly string[] DescriptorMembers = ["mediaType", "digest", "size", "artifactType", "annotations", "urls", "platform"];
    private const int DMediaType = 0, DDigest = 1, DSize = 2, DArtifactType = 3, DAnnotations = 4, DUrls = 5, DPlatform = 6;
    private static readonly string[] PlatformMembers = ["os", "architecture", "variant"];
    private static readonly byte[][] RootNames = Utf8(RootMembers), DescriptorNames = Utf8(DescriptorMembers), PlatformNames = Utf8(PlatformMembers);

    /// <param name="content">The manifest bytes.</param>
    /// <param name="contentType">The request's Content-Type (media type only), or null.</param>
    public static ParsedManifest Parse(byte[] content, string? contentType) => Parse(new ReadOnlyMemory<byte>(content), contentType);

    /// <summary>As <see cref="Parse(ReadOnlyMemory{byte}, string?)"/>, for bytes a span holds (copied once).</summary>
    public static ParsedManifest Parse(ReadOnlySpan<byte> content, string? contentType) => Parse(new ReadOnlyMemory<byte>(content.ToArray()), contentType);

    /// <param name="content">The manifest bytes.</param>
    /// <param name="contentType">The request's Content-Type (media type only), or null.</param>
    public static ParsedManifest Parse(ReadOnlyMemory<byte> content, string? contentType)
    {
        using var document = Read(content);
        var top = document.RootElement;
        CheckNumbers(top);
        if (top.ValueKind != JsonValueKind.Object)
        {
            throw new ManifestFormatException("a manifest must be a JSON object");
        }

        var slots = default(Slots);
        Span<JsonElement> root = slots;
        Members(top, RootNames, RootMembers, root);
        CheckSchemaVersion(root[SchemaVersion], contentType);
        var mediaType = MediaTypeOf(root[MediaType], Present(root[Manifests]), contentType);
        var artifactType = OptionalString(root[ArtifactType], "artifactType");
        var subject = IsNullOrAbsent(root[Subject]) ? null : ParseDescriptor(root[Subject], "subject");
        var annotations = ParseAnnotations(root[Annotations], "annotations");

        if (MediaTypes.IsIndex(mediaType))
        {
            if (Present(root[Config]) || Present(root[Layers]))
            {
                throw new ManifestFormatException("an index has no config or layers");
            }

            var manifests = ParseDescriptors(root[Manifests], "manifests", required: true);
            return new ParsedManifest(mediaType, null, [], manifests, subject, artifactType, annotations);
        }

        if (Present(root[Manifests]))
        {
            throw new ManifestFormatException("an image manifest has no manifests list");
        }

        var config = Present(root[Config]) ? ParseDescriptor(root[Config], "config") : throw new ManifestFormatException("config is required");
        var layers = ParseDescriptors(root[Layers], "layers", required: mediaType == MediaTypes.DockerManifest);
        return new ParsedManifest(mediaType, config, layers, [], subject, artifactType, annotations);
    }

    /// <summary><c>schemaVersion</c> must be 2; a schema 1 manifest (by its version or its Content-Type) is refused as such.</summary>
    private static void CheckSchemaVersion(JsonElement schemaVersion, string? contentType)
    {
        if (contentType is MediaTypes.DockerSchema1 or MediaTypes.DockerSchema1Signed
            || (TryInt64(schemaVersion, out var version) && version == 1))
        {
            throw new ManifestFormatException(Schema1Refused);
        }

        if (!TryInt64(schemaVersion, out version) || version != 2)
        {
            throw new ManifestFormatException("schemaVersion must be 2");
        }
    }

    /// <summary>
    /// The manifest's media type: the body's <c>mediaType</c>, else the request's Content-Type unless generic, else an
    /// OCI index or manifest by whether it lists manifests; a mismatch of the two, an unsupported type and a Docker
    /// manifest without its <c>mediaType</c> are refused.
    /// </summary>
    private static string MediaTypeOf(JsonElement mediaTypeMember, bool hasManifests, string? contentType)
    {
        var bodyType = OptionalString(mediaTypeMember, "mediaType");
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

        var mediaType = bodyType ?? headerType ?? (hasManifests ? MediaTypes.OciIndex : MediaTypes.OciManifest);
        if (!MediaTypes.IsManifest(mediaType))
        {
            throw new ManifestFormatException($"unsupported manifest media type '{mediaType}'");
        }

        if ((mediaType is MediaTypes.DockerManifest or MediaTypes.DockerManifestList) && bodyType is null)
        {
            throw new ManifestFormatException("a Docker manifest must carry its mediaType");
        }

        return mediaType;
    }

    /// <summary>
    /// The document, when the bytes are strict JSON in valid UTF-8, as distribution's decoder demands: no invalid
    /// or overlong bytes, no byte order mark, no comments, no trailing commas, single quotes, bare names or NaN,
    /// one value only. (The reader does not check the UTF-8 inside strings itself, hence the check before it.)
    /// </summary>
    private static JsonDocument Read(ReadOnlyMemory<byte> content)
    {
        if (!System.Text.Unicode.Utf8.IsValid(content.Span))
        {
            throw new ManifestFormatException("manifest is not valid UTF-8 JSON: it contains bytes that are not UTF-8");
        }

        try
        {
            return JsonDocument.Parse(content, Strict);
        }
        catch (JsonException ex)
        {
            throw new ManifestFormatException("manifest is not valid UTF-8 JSON: " + ex.Message);
        }
    }

    /// <summary>
    /// Refuses a number that is not an integer and does not fit a <see cref="decimal"/> (<c>1e400</c>), anywhere in the
    /// document, as the JSON.NET reader did that read the manifest before (integers of any size were read).
    /// </summary>
    private static void CheckNumbers(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    CheckNumbers(property.Value);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    CheckNumbers(item);
                }

                break;
            case JsonValueKind.Number:
                var raw = JsonMarshal.GetRawUtf8Value(element);
                if (!IsInteger(raw) && !decimal.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                {
                    throw new ManifestFormatException($"manifest is not valid JSON: the number {Encoding.UTF8.GetString(raw)} does not fit a decimal");
                }

                break;
        }
    }

    private static bool IsInteger(ReadOnlySpan<byte> number) => number.IndexOfAny((byte)'.', (byte)'e', (byte)'E') < 0;

    /// <summary>
    /// The values of the members named <paramref name="names"/> (<paramref name="utf8"/> in UTF-8) of
    /// <paramref name="obj"/>, each <see cref="JsonValueKind.Undefined"/> when absent; of a name given twice, the last value.
    /// </summary>
    private static void Members(JsonElement obj, byte[][] utf8, string[] names, Span<JsonElement> values)
    {
        foreach (var property in obj.EnumerateObject())
        {
            var name = JsonMarshal.GetRawUtf8PropertyName(property);
            string? unescaped = null;
            for (var i = 0; i < names.Length; i++)
            {
                if (name.IndexOf((byte)'\\') < 0
                    ? name.SequenceEqual(utf8[i])
                    : (unescaped ??= Unescape(name)) == names[i])
                {
                    values[i] = property.Value;
                    break;
                }
            }
        }
    }

    /// <summary>The member is in the object, with any value (<c>null</c> too).</summary>
    private static bool Present(JsonElement value) => value.ValueKind != JsonValueKind.Undefined;

    private static bool IsNullOrAbsent(JsonElement value) => value.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null;

    /// <summary>An integer that fits in 64 bits (a larger one is no count or version here).</summary>
    private static bool TryInt64(JsonElement value, out long number)
    {
        number = 0;
        return value.ValueKind == JsonValueKind.Number && IsInteger(JsonMarshal.GetRawUtf8Value(value)) && value.TryGetInt64(out number);
    }

    private static string? OptionalString(JsonElement value, string name)
    {
        if (IsNullOrAbsent(value))
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? Text(value)
            : throw new ManifestFormatException($"{name} must be a string");
    }

    /// <summary>A string's value; with an escaped lone surrogate, which <see cref="JsonElement.GetString"/> refuses, U+FFFD in its place.</summary>
    private static string Text(JsonElement value)
    {
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            var quoted = JsonMarshal.GetRawUtf8Value(value);
            return Unescape(quoted[1..^1]);
        }
    }

    /// <summary>
    /// The text of a string's raw bytes (between its quotes), its escapes (which the reader checked) resolved as
    /// JSON.NET resolved them: an escaped surrogate that is not half of an escaped pair becomes U+FFFD.
    /// </summary>
    private static string Unescape(ReadOnlySpan<byte> raw)
    {
        var text = new StringBuilder(raw.Length);
        while (raw.IndexOf((byte)'\\') is var slash and >= 0)
        {
            text.Append(Encoding.UTF8.GetString(raw[..slash]));
            raw = raw[(slash + 1)..];
            if (raw[0] != (byte)'u')
            {
                text.Append(raw[0] switch
                {
                    (byte)'b' => '\b',
                    (byte)'f' => '\f',
                    (byte)'n' => '\n',
                    (byte)'r' => '\r',
                    (byte)'t' => '\t',
                    var same => (char)same, // " \ /
                });
                raw = raw[1..];
                continue;
            }

            var unit = Utf16Unit(raw);
            raw = raw[5..];
            if (char.IsHighSurrogate(unit) && raw is [(byte)'\\', (byte)'u', ..] && char.IsLowSurrogate(Utf16Unit(raw[1..])))
            {
                text.Append(unit).Append(Utf16Unit(raw[1..]));
                raw = raw[6..];
            }
            else
            {
                text.Append(char.IsSurrogate(unit) ? '\uFFFD' : unit);
            }
        }

        return text.Append(Encoding.UTF8.GetString(raw)).ToString();
    }

    /// <summary>The UTF-16 unit of the escape <c>uXXXX</c> at the start of <paramref name="escape"/>.</summary>
    private static char Utf16Unit(ReadOnlySpan<byte> escape) =>
        (char)ushort.Parse(escape.Slice(1, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

    private static IReadOnlyList<Descriptor> ParseDescriptors(JsonElement value, string field, bool required)
    {
        if (IsNullOrAbsent(value))
        {
            return required ? throw new ManifestFormatException($"{field} is required") : [];
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new ManifestFormatException($"{field} must be an array");
        }

        var list = new List<Descriptor>(value.GetArrayLength());
        var i = 0;
        foreach (var item in value.EnumerateArray())
        {
            list.Add(ParseDescriptor(item, $"{field}[{i++}]"));
        }

        return list;
    }

    private static Descriptor ParseDescriptor(JsonElement value, string field)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new ManifestFormatException($"{field} must be a descriptor object");
        }

        var slots = default(Slots);
        Span<JsonElement> member = slots;
        Members(value, DescriptorNames, DescriptorMembers, member);
        var mediaType = OptionalString(member[DMediaType], "mediaType");
        if (string.IsNullOrEmpty(mediaType))
        {
            throw new ManifestFormatException($"{field}.mediaType is required");
        }

        var digestText = OptionalString(member[DDigest], "digest");
        if (!Digest.TryParse(digestText, out var digest))
        {
            throw new ManifestFormatException($"{field}.digest is not a valid digest");
        }

        if (!TryInt64(member[DSize], out var size) || size < 0)
        {
            throw new ManifestFormatException($"{field}.size must be a non-negative integer");
        }

        IReadOnlyList<string>? urls = null;
        if (member[DUrls].ValueKind == JsonValueKind.Array)
        {
            var list = new List<string>(member[DUrls].GetArrayLength());
            foreach (var url in member[DUrls].EnumerateArray())
            {
                list.Add(url.ValueKind == JsonValueKind.String ? Text(url) : throw new ManifestFormatException($"{field}.urls must be strings"));
            }

            urls = list;
        }

        return new Descriptor(
            mediaType,
            digest,
            size,
            OptionalString(member[DArtifactType], "artifactType"),
            ParseAnnotations(member[DAnnotations], field + ".annotations"),
            urls,
            ParsePlatform(member[DPlatform]));
    }

    /// <summary>An index entry's platform; null when absent or not an object of strings (it only guides the sync filter).</summary>
    private static DescriptorPlatform? ParsePlatform(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var slots = default(Slots);
        Span<JsonElement> member = slots;
        Members(value, PlatformNames, PlatformMembers, member);
        return new DescriptorPlatform(StringOrNull(member[0]), StringOrNull(member[1]), StringOrNull(member[2]));
    }

    private static string? StringOrNull(JsonElement value) => value.ValueKind == JsonValueKind.String ? Text(value) : null;

    private static Dictionary<string, string>? ParseAnnotations(JsonElement value, string field)
    {
        if (IsNullOrAbsent(value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new ManifestFormatException($"{field} must be an object of strings");
        }

        // A key given twice counts with its last value, in the place of its first.
        var members = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in value.EnumerateObject())
        {
            var name = JsonMarshal.GetRawUtf8PropertyName(property);
            members[name.IndexOf((byte)'\\') < 0 ? Encoding.UTF8.GetString(name) : Unescape(name)] = property.Value;
        }

        var result = new Dictionary<string, string>(members.Count, StringComparer.Ordinal);
        foreach (var (name, member) in members)
        {
            result[name] = member.ValueKind == JsonValueKind.String
                ? Text(member)
                : throw new ManifestFormatException($"{field} values must be strings");
        }

        return result;
    }

    /// <summary>Room for the members read of one object, on the stack.</summary>
    [System.Runtime.CompilerServices.InlineArray(8)]
    private struct Slots
    {
        private JsonElement _first;
    }

    private static byte[][] Utf8(string[] names) => [.. names.Select(Encoding.UTF8.GetBytes)];
}
