using System.Globalization;
using System.Reflection;
using System.Text;
using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// Builds the reported properties (ARCHITECTURE.md, schema 1.0) from a <see cref="ModuleStateSnapshot"/>
/// and the last desired status. Only state goes in, never settings, so no secret can leak; the result
/// is trimmed to stay well under the 32 KB twin limit.
/// </summary>
public static class ReportedProperties
{
    public const string SchemaVersion = "1.0";
    public const int MaxStatusDetails = 10;
    public const int MaxTextLength = 256;
    public const int MaxChildren = 50;

    public static string ModuleVersion { get; } =
        typeof(ReportedProperties).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(ReportedProperties).Assembly.GetName().Version?.ToString(3)
        ?? "0.0.0";

    /// <param name="desiredFromPreviousRun">When <paramref name="desired"/> is the status the previous run last reported
    /// (this run has processed no document yet): since when it reported it.</param>
    public static JObject Build(ModuleStateSnapshot state, DesiredStatus desired, int maxBytes = 16 * 1024, DateTimeOffset? desiredFromPreviousRun = null)
    {
        var reported = new JObject
        {
            ["schemaVersion"] = SchemaVersion,
            ["version"] = ModuleVersion,
            ["lastDesiredVersion"] = desired.Version,
            ["lastDesiredStatus"] = new JObject { ["code"] = desired.Code, ["description"] = Text(desired.Description, 2048) },
            ["activationState"] = state.ActivationState,
            ["connectionState"] = state.ConnectionState,
            ["statusDetails"] = StatusDetails(state.StatusDetails),
            ["loginServer"] = state.LoginServer is null ? null : new JObject { ["host"] = state.LoginServer.Host, ["tls"] = state.LoginServer.Tls },
            ["sync"] = Sync(state.Sync),
            ["storage"] = new JObject
            {
                ["usedBytes"] = state.Storage.UsedBytes,
                ["freeBytes"] = state.Storage.FreeBytes,
                ["blobs"] = state.Storage.Blobs,
                ["repositories"] = state.Storage.Repositories,
                ["evicted"] = state.Evicted is not { } evicted ? null : new JObject
                {
                    ["time"] = Time(evicted.Time),
                    ["manifests"] = evicted.Manifests,
                    ["bytes"] = evicted.Bytes,
                },
                ["retention"] = state.Retention is not { } retention ? null : new JObject
                {
                    ["lastPassTime"] = Time(retention.LastPassTime),
                    ["tagsRemoved"] = retention.TagsRemoved,
                    ["manifestsRemoved"] = retention.ManifestsRemoved,
                    ["bytesFreed"] = retention.BytesFreed,
                    ["pending"] = retention.Pending,
                },
            },
            ["children"] = Children(state.Children.OrderBy(c => c.Key, StringComparer.Ordinal).Take(MaxChildren)),
            ["fromPreviousRun"] = FromPreviousRun(state.PreviousRun, desiredFromPreviousRun),
        };

        TrimToFit(reported, state, desired, maxBytes);
        return reported;
    }

    private static JArray StatusDetails(IEnumerable<StatusDetail> details) =>
        new(details.Take(MaxStatusDetails).Select(d => new JObject
        {
            ["code"] = Text(d.Code),
            ["type"] = d.Type,
            ["description"] = Text(d.Description),
            ["timestamp"] = Time(d.Timestamp),
        }));

    /// <summary>The reported <c>sync</c>: its times, the running pass's progress, pushes pending, the last error, on-demand fetches.</summary>
    private static JObject Sync(SyncStatus sync)
    {
        var progress = sync.Progress is null ? null : new JObject
        {
            ["state"] = sync.Progress.State,
            ["repositoriesDone"] = sync.Progress.RepositoriesDone,
            ["repositoriesTotal"] = sync.Progress.RepositoriesTotal,
            ["bytesDone"] = sync.Progress.BytesDone,
            ["bytesTotal"] = sync.Progress.BytesTotal,
            ["etaSeconds"] = sync.Progress.EtaSeconds,
        };
        return new JObject
        {
            ["lastSyncTime"] = Time(sync.LastSyncTime),
            ["nextSyncTime"] = Time(sync.NextSyncTime),
            ["windowEndTime"] = Time(sync.WindowEndTime),
            ["progress"] = progress,
            ["pendingPushes"] = sync.PendingPushes,
            ["lastError"] = sync.LastError is null ? null : Text(sync.LastError),
            ["bandwidthLimitMbps"] = sync.BandwidthLimitMbps,
            ["onDemandFetches"] = sync.OnDemandFetches,
            ["lastOnDemandFetch"] = sync.LastOnDemandFetch is null ? null : new JObject
            {
                ["reference"] = Text(sync.LastOnDemandFetch.Reference),
                ["time"] = Time(sync.LastOnDemandFetch.Time),
            },
        };
    }

    /// <summary>
    /// Keeps the document under <paramref name="maxBytes"/>: the children past <see cref="MaxChildren"/> are counted,
    /// not listed; then, when still too large, no children, then no status details and a shorter desired status.
    /// </summary>
    private static void TrimToFit(JObject reported, ModuleStateSnapshot state, DesiredStatus desired, int maxBytes)
    {
        if (state.Children.Count > MaxChildren)
        {
            reported["childrenOmitted"] = state.Children.Count - MaxChildren;
        }

        if (Size(reported) > maxBytes)
        {
            reported["children"] = new JObject();
            reported["childrenOmitted"] = state.Children.Count;
        }

        if (Size(reported) > maxBytes)
        {
            reported["statusDetails"] = new JArray();
            reported["lastDesiredStatus"]!["description"] = Text(desired.Description);
        }
    }

    /// <summary>UTF-8 size of the serialized document, as the twin limit counts it.</summary>
    public static int Size(JToken token) => Encoding.UTF8.GetByteCount(TwinJson.Serialize(token));

    /// <summary>Twin keys may not hold '.', '$', spaces or control characters.</summary>
    public static string TwinKey(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            builder.Append(c is '.' or '$' or ' ' || char.IsControl(c) ? '_' : c);
        }

        return builder.ToString();
    }

    /// <summary>
    /// Which members still show what the previous run last reported (this run has not learnt its own yet), and since
    /// when that run reported them; null once every one is this run's.
    /// </summary>
    private static JToken FromPreviousRun(PreviousRunState? states, DateTimeOffset? desiredSince)
    {
        var members = new JArray();
        if (desiredSince is not null)
        {
            members.Add("lastDesiredVersion");
            members.Add("lastDesiredStatus");
        }

        if (states?.ActivationState == true)
        {
            members.Add("activationState");
        }

        if (states?.ConnectionState == true)
        {
            members.Add("connectionState");
        }

        var since = desiredSince ?? states?.Since;
        return members.Count == 0 || since is null ? JValue.CreateNull() : new JObject { ["members"] = members, ["since"] = Time(since) };
    }

    private static JObject Children(IEnumerable<KeyValuePair<string, ChildStatus>> children)
    {
        var result = new JObject();
        foreach (var (name, child) in children)
        {
            result[TwinKey(name)] = new JObject { ["activationState"] = child.ActivationState, ["lastSeen"] = Time(child.LastSeen) };
        }

        return result;
    }

    private static JToken Time(DateTimeOffset? value) =>
        value is null ? JValue.CreateNull() : new JValue(value.Value.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));

    private static string Text(string value, int max = MaxTextLength) => value.Length <= max ? value : value[..(max - 3)] + "...";
}
