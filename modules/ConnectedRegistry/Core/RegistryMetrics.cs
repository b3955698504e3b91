using System.Diagnostics;
using ConnectedRegistry.Oci;
using System.Diagnostics.Metrics;

namespace ConnectedRegistry.Core;

/// <summary>
/// The module's metrics: one <see cref="Meter"/> (made by the host's <see cref="IMeterFactory"/>, so every host
/// in a process has its own) with every instrument, and one method per fact that a part reports. Parts call the
/// methods; they never see an instrument. Values that already live in <see cref="ModuleState"/> (storage,
/// pending pushes, last successful pass, connection and activation state) are read from it when scraped.
/// Labels are small fixed sets (route kind, method, status class, result, state): never a repository, a tag, a
/// user or anything secret. Monitoring/ publishes the meter in the Prometheus text format.
/// </summary>
public sealed class RegistryMetrics : IDisposable
{
    public const string MeterName = "ConnectedRegistry";

    private static readonly double[] RequestBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
    private static readonly double[] PassBuckets = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200];
    private readonly Dictionary<Instrument, string[]> _labelNames = [];
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _requestDuration;
    private readonly Counter<long> _sentBytes;
    private readonly Counter<long> _receivedBytes;
    private readonly Counter<long> _syncPasses;
    private readonly Histogram<double> _syncPassDuration;
    private readonly Counter<long> _syncFetchedBytes;
    private readonly Counter<long> _syncFetchedBlobs;
    private readonly Counter<long> _syncPushedBytes;
    private readonly Counter<long> _syncPushedBlobs;
    private readonly Counter<long> _onDemandFetches;
    private readonly Counter<long> _failedLogins;
    private readonly Counter<long> _desiredDocuments;
    private readonly Counter<long> _gcRuns;
    private readonly Counter<long> _gcFreedBytes;
    private readonly Counter<long> _syncLinkBytes;
    private readonly Counter<long> _evictedManifests;
    private readonly Counter<long> _evictedBytes;
    private readonly Counter<long> _retentionPasses;
    private readonly Counter<long> _retentionTags;
    private readonly Counter<long> _retentionManifests;
    private readonly Counter<long> _retentionFreedBytes;

    public RegistryMetrics(IMeterFactory meters, ModuleState state)
    {
        Meter = meters.Create(MeterName);
        _requests = Counter("connected_registry.http.requests", "{request}", "HTTP requests served, by route kind, method and status class", "route", "method", "status");
        _requestDuration = Histogram("connected_registry.http.request.duration", "s", "Time to serve an HTTP request, by route kind, method and status class", RequestBuckets, "route", "method", "status");
        _sentBytes = Counter("connected_registry.http.sent", "By", "Response body bytes sent to clients, by route kind", "route");
        _receivedBytes = Counter("connected_registry.http.received", "By", "Request body bytes received from clients, by route kind", "route");
        _syncPasses = Counter("connected_registry.sync.passes", "{pass}", "Sync passes, by result", "result");
        _syncPassDuration = Histogram("connected_registry.sync.pass.duration", "s", "Duration of sync passes, by result", PassBuckets, "result");
        _syncFetchedBytes = Counter("connected_registry.sync.fetched", "By", "Blob bytes fetched from the parent");
        _syncFetchedBlobs = Counter("connected_registry.sync.fetched.blobs", "{blob}", "Blobs fetched from the parent and stored");
        _syncPushedBytes = Counter("connected_registry.sync.pushed", "By", "Blob bytes pushed to the parent");
        _syncPushedBlobs = Counter("connected_registry.sync.pushed.blobs", "{blob}", "Blobs pushed to the parent");
        _onDemandFetches = Counter("connected_registry.ondemand.fetches", "{fetch}", "Content fetched from the parent on a client's request, by result", "result");
        _failedLogins = Counter("connected_registry.auth.failed_logins", "{login}", "Logins refused for wrong or unknown credentials");
        _desiredDocuments = Counter("connected_registry.twin.desired_documents", "{document}", "Desired property documents processed, by result (applied or rejected)", "result");
        _gcRuns = Counter("connected_registry.gc.runs", "{run}", "Garbage collection runs completed");
        _gcFreedBytes = Counter("connected_registry.gc.freed", "By", "Bytes freed by garbage collection");
        _evictedManifests = Counter("connected_registry.evicted.manifests", "{manifest}", "Manifests fetched on demand and evicted for space, least recently pulled first");
        _evictedBytes = Counter("connected_registry.evicted", "By", "Blob bytes freed by evicting content fetched on demand");
        _syncLinkBytes = Counter("connected_registry.sync.link", "By", "Bytes on the connections to the parent (headers, TLS and bodies of sync down, sync up, on-demand fetch and the change feed), by direction", "direction");

        _retentionPasses = Counter("connected_registry.retention.passes", "{pass}", "Retention passes completed (dry runs not counted)");
        _retentionTags = Counter("connected_registry.retention.tags_removed", "{tag}", "Tags removed by retention passes");
        _retentionManifests = Counter("connected_registry.retention.manifests_removed", "{manifest}", "Untagged manifests removed by retention passes (untaggedAfter)");
        _retentionFreedBytes = Counter("connected_registry.retention.freed", "By", "Bytes garbage collection freed after retention passes");

        Meter.CreateObservableGauge("connected_registry.storage.used", () => state.Snapshot().Storage.UsedBytes, "By", "Bytes of blobs stored");
        Meter.CreateObservableGauge("connected_registry.storage.free", () => state.Snapshot().Storage.FreeBytes, "By", "Free bytes on the data volume");
        Meter.CreateObservableGauge("connected_registry.storage.blobs", () => state.Snapshot().Storage.Blobs, "{blob}", "Blobs stored");
        Meter.CreateObservableGauge("connected_registry.storage.repositories", () => state.Snapshot().Storage.Repositories, "{repository}", "Repositories stored");
        Meter.CreateObservableGauge("connected_registry.retention.pending", () => (long)(state.Retention?.Pending ?? 0), "{removal}", "Removals the retention rules ask for that the last pass left to the next ones (beyond maxRemovalsPerPass)");
        Meter.CreateObservableGauge("connected_registry.sync.pending_pushes", () => (long)state.Snapshot().Sync.PendingPushes, "{push}", "Local changes waiting to be pushed to the parent");
        Meter.CreateObservableGauge("connected_registry.sync.bandwidth_limit_bps", () => (long)((state.Snapshot().Sync.BandwidthLimitMbps ?? 0) * 1_000_000), "bit/s", "The sync.bandwidth cap in force, bits per second (0: none)");
        Meter.CreateObservableGauge("connected_registry.sync.last_success_timestamp", () => LastSuccess(state), "s", "Unix time of the last successful sync pass (0: none yet)");
        Labelled(Meter.CreateObservableGauge("connected_registry.connection_state", () => OneOf(state.Snapshot().ConnectionState, ConnectionStateValues), "1", "1 for the current connection state, 0 for the others"), "state");
        Labelled(Meter.CreateObservableGauge("connected_registry.activation_state", () => OneOf(state.Snapshot().ActivationState, ActivationStateValues), "1", "1 for the current activation state, 0 for the others"), "state");
    }

    public static IReadOnlyList<string> ConnectionStateValues { get; } =
        [ConnectionStates.Online, ConnectionStates.Syncing, ConnectionStates.Offline, ConnectionStates.Unhealthy];

    public static IReadOnlyList<string> ActivationStateValues { get; } = [ActivationStates.Active, ActivationStates.Inactive];

    public Meter Meter { get; }

    /// <summary>The label names an instrument of this meter is always recorded with, in order (none when unlabelled).</summary>
    public IReadOnlyList<string> LabelNames(Instrument instrument) =>
        _labelNames.TryGetValue(instrument, out var names) ? names : [];

    /// <summary>One HTTP request answered. <paramref name="route"/> is one of <see cref="RouteKinds"/>.</summary>
    public void RequestServed(string route, string method, int status, TimeSpan elapsed, long receivedBytes, long sentBytes)
    {
        var tags = new TagList
        {
            { "route", route },
            { "method", MethodLabel(method) },
            { "status", StatusClass(status) },
        };
        _requests.Add(1, tags);
        _requestDuration.Record(elapsed.TotalSeconds, tags);
        var routeTag = new KeyValuePair<string, object?>("route", route);
        if (sentBytes > 0)
        {
            _sentBytes.Add(sentBytes, routeTag);
        }

        if (receivedBytes > 0)
        {
            _receivedBytes.Add(receivedBytes, routeTag);
        }
    }

    /// <summary>A sync pass ended. <paramref name="result"/> is one of <see cref="SyncResults"/>.</summary>
    public void SyncPassEnded(string result, TimeSpan elapsed)
    {
        var tag = new KeyValuePair<string, object?>("result", result);
        _syncPasses.Add(1, tag);
        _syncPassDuration.Record(elapsed.TotalSeconds, tag);
    }

    /// <summary>Bytes of a blob arrived from the parent (called as they arrive, so a long download shows progress).</summary>
    public void SyncBytesFetched(long bytes) => _syncFetchedBytes.Add(bytes);

    /// <summary>A blob from the parent was verified and stored.</summary>
    public void SyncBlobFetched() => _syncFetchedBlobs.Add(1);

    /// <summary>A blob was uploaded to the parent.</summary>
    public void SyncBlobPushed(long bytes)
    {
        _syncPushedBlobs.Add(1);
        _syncPushedBytes.Add(bytes);
    }

    /// <summary>Bytes crossed a connection to the parent: <paramref name="sent"/> to it, else from it.</summary>
    public void SyncLinkBytes(bool sent, long bytes) => _syncLinkBytes.Add(bytes, new KeyValuePair<string, object?>("direction", sent ? "sent" : "received"));

    /// <summary>Content fetched from the parent because a client asked for it (pull-through). <paramref name="result"/>: <c>fetched</c> or <c>failed</c>.</summary>
    public void OnDemandFetch(string result) => _onDemandFetches.Add(1, new KeyValuePair<string, object?>("result", result));

    public void LoginFailed() => _failedLogins.Add(1);

    /// <summary>A desired document was applied or rejected by the twin pipeline.</summary>
    public void DesiredDocument(bool applied) =>
        _desiredDocuments.Add(1, new KeyValuePair<string, object?>("result", applied ? "applied" : "rejected"));

    public void GarbageCollected(long bytesFreed)
    {
        _gcRuns.Add(1);
        _gcFreedBytes.Add(bytesFreed);
    }

    /// <summary>One eviction of content fetched on demand removed <paramref name="manifests"/> manifests and freed <paramref name="bytes"/>.</summary>
    public void ContentEvicted(int manifests, long bytes)
    {
        _evictedManifests.Add(manifests);
        _evictedBytes.Add(bytes);
    }

    /// <summary>A retention pass removed tags and untagged manifests, and garbage collection then freed bytes.</summary>
    public void RetentionPassed(int tagsRemoved, int manifestsRemoved, long bytesFreed)
    {
        _retentionPasses.Add(1);
        _retentionTags.Add(tagsRemoved);
        _retentionManifests.Add(manifestsRemoved);
        _retentionFreedBytes.Add(bytesFreed);
    }

    public void Dispose() => Meter.Dispose();

    private Counter<long> Counter(string name, string unit, string description, params string[] labels) =>
        Labelled(Meter.CreateCounter<long>(name, unit, description), labels);

    private Histogram<double> Histogram(string name, string unit, string description, double[] buckets, params string[] labels) =>
        Labelled(Meter.CreateHistogram(name, unit, description, tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets }), labels);

    private T Labelled<T>(T instrument, params string[] labels)
        where T : Instrument
    {
        _labelNames[instrument] = labels;
        return instrument;
    }

    /// <summary>2xx, 3xx, 4xx, 5xx (1xx is not answered by the registry).</summary>
    public static string StatusClass(int status) => status switch
    {
        >= 200 and < 300 => "2xx",
        >= 300 and < 400 => "3xx",
        >= 400 and < 500 => "4xx",
        >= 500 and < 600 => "5xx",
        _ => "other",
    };

    /// <summary>The methods the registry serves, as they are; anything else is <c>OTHER</c> (a client must not grow the label set).</summary>
    public static string MethodLabel(string method) => method switch
    {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "POST" => "POST",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        _ => "OTHER",
    };

    private static double LastSuccess(ModuleState state) =>
        state.Snapshot().Sync.LastSyncTime is { } last ? last.ToUnixTimeMilliseconds() / 1000.0 : 0;

    private static IEnumerable<Measurement<int>> OneOf(string current, IReadOnlyList<string> values) =>
        values.Select(value => new Measurement<int>(value == current ? 1 : 0, new KeyValuePair<string, object?>("state", value)));
}

/// <summary>The <c>route</c> label of the HTTP metrics.</summary>
public static class RouteKinds
{
    public const string Base = "base";
    public const string Manifest = "manifest";
    public const string Blob = "blob";
    public const string Upload = "upload";
    public const string Tags = "tags";
    public const string Catalog = "catalog";
    public const string Referrers = "referrers";
    public const string Token = "token";
    public const string Hierarchy = "hierarchy";
    public const string Other = "other";

    /// <summary>The label of a <c>/v2</c> request by its parsed route (null: a path no resource serves).</summary>
    public static string Of(OciRoute? route) => route?.Resource switch
    {
        OciResource.Base => Base,
        OciResource.Catalog => Catalog,
        OciResource.Tags => Tags,
        OciResource.Manifest => Manifest,
        OciResource.Blob => Blob,
        OciResource.UploadStart or OciResource.Upload => Upload,
        OciResource.Referrers => Referrers,
        _ => Other,
    };
}

/// <summary>The <c>result</c> label of <c>connected_registry_sync_passes_total</c>.</summary>
public static class SyncResults
{
    /// <summary>Everything was synced.</summary>
    public const string Succeeded = "succeeded";

    /// <summary>The parent answered but some content could not be copied.</summary>
    public const string Incomplete = "incomplete";

    /// <summary>The parent could not be reached or failed.</summary>
    public const string Failed = "failed";

    /// <summary>This registry could not store what the parent sent (disk).</summary>
    public const string DiskError = "disk_error";

    /// <summary>The parent refused this instance's activation, or it is deactivated.</summary>
    public const string ActivationRefused = "activation_refused";

    /// <summary>The sync window closed or the module stopped during the pass.</summary>
    public const string Cancelled = "cancelled";
}
