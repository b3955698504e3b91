using System.Globalization;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Core;

/// <summary>
/// Something that happened, as sent on the module output <c>events</c> (one JSON message each): its <see cref="Type"/>,
/// UTC time, and the subject. The registry name is added when it is sent. Never holds a secret.
/// </summary>
public sealed record RegistryEvent(string Type, DateTimeOffset Time)
{
    public string Id { get; init; } = Guid.NewGuid().ToString("N");

    public string? Repository { get; init; }

    public string? Tag { get; init; }

    public string? Digest { get; init; }

    public string? MediaType { get; init; }

    /// <summary>Bytes of the subject (a manifest's size; a sync pass's bytes fetched).</summary>
    public long? Size { get; init; }

    /// <summary>What happened in words, for operators.</summary>
    public string? Message { get; init; }

    /// <summary>Further members of the body (counts, free bytes, a child's name).</summary>
    public IReadOnlyDictionary<string, object?>? Data { get; init; }

    /// <summary>Artifact events are selected by the twin's <c>notifications</c>; every other type always goes.</summary>
    public bool IsArtifactEvent => Type is EventTypes.ArtifactPushed or EventTypes.ArtifactDeleted;

    public JObject ToJson(string? registryName)
    {
        var body = new JObject
        {
            ["id"] = Id,
            ["type"] = Type,
            ["time"] = Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
            ["registry"] = registryName,
        };
        Add(body, "repository", Repository);
        Add(body, "tag", Tag);
        Add(body, "digest", Digest);
        Add(body, "mediaType", MediaType);
        if (Size is { } size)
        {
            body["size"] = size;
        }

        Add(body, "message", Message);
        foreach (var (key, value) in Data ?? new Dictionary<string, object?>())
        {
            body[key] = value is null ? JValue.CreateNull() : JToken.FromObject(value);
        }

        return body;

        static void Add(JObject body, string name, string? value)
        {
            if (value is not null)
            {
                body[name] = value;
            }
        }
    }
}

/// <summary>The event types (the <c>type</c> member and message property).</summary>
public static class EventTypes
{
    public const string ArtifactPushed = "ArtifactPushed";
    public const string ArtifactDeleted = "ArtifactDeleted";
    public const string SyncCompleted = "SyncCompleted";
    public const string SyncFailed = "SyncFailed";
    public const string SyncPushExpired = "SyncPushExpired";
    public const string ChildActivated = "ChildActivated";
    public const string ChildRefused = "ChildRefused";
    public const string StorageLow = "StorageLow";
    public const string StorageFull = "StorageFull";
    public const string StorageRecovered = "StorageRecovered";
    public const string ContentEvicted = "ContentEvicted";
    public const string ActivationLost = "ActivationLost";
    public const string TagsRetired = "TagsRetired";
}

/// <summary>Where parts report what happened. Never blocks and never throws: a full queue drops its oldest event.</summary>
public interface IEventPublisher
{
    void Publish(RegistryEvent registryEvent);
}
