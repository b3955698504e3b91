using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// The one path desired properties take, in both IoT Edge and standalone mode: merge the patch into the
/// last full desired document → parse by schemaVersion → validate everything → apply atomically to
/// <see cref="RegistrySettingsStore"/>. A rejected document leaves the last good settings running; the
/// merged document is still kept, so a later patch that fixes the error applies on top of it. When no settings were
/// ever applied, a rejection leaves none: the store records the reasons and the registry answers 503 naming them
/// (fail closed), instead of running on the built-in defaults, an open registry.
/// Subscribers (the store's <c>Changed</c>, <see cref="StatusChanged"/>) are told after the pipeline's lock is
/// released, in the order the documents were processed, one notification at a time: they may read the
/// pipeline, report, or even apply settings themselves without deadlocking.
/// </summary>
public sealed partial class DesiredPropertiesPipeline : IDesiredStatusSource
{
    private readonly RegistrySettingsStore _store;
    private readonly LogLevelSwitch? _logLevel;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly OrderedNotifications _notifications = new();
    private JObject _desired = new();
    private DesiredStatus _status = DesiredStatus.Initial;

    private readonly ModuleEnvironment? _environment;
    private readonly ModuleState? _state;
    private readonly TimeProvider _time;

    /// <summary>The status detail (Warning) listing desired members this module does not know, while the applied document has any.</summary>
    [StatusDetailCode]
    public const string UnknownMembersCode = "DesiredPropertiesUnknownMembers";

    public DesiredPropertiesPipeline(RegistrySettingsStore store, ILogger<DesiredPropertiesPipeline> logger, LogLevelSwitch? logLevel = null, ModuleEnvironment? environment = null, ModuleState? state = null, TimeProvider? time = null)
    {
        _store = store;
        _environment = environment;
        _state = state;
        _time = time ?? TimeProvider.System;
        _logger = logger;
        _logLevel = logLevel;
    }

    /// <summary>Raised after every document was processed (applied or rejected), in order, outside the pipeline's lock.</summary>
    public event Action<DesiredStatus>? StatusChanged;

    public DesiredStatus Status
    {
        get
        {
            lock (_gate)
            {
                return _status;
            }
        }
    }

    /// <summary>Null once settings are applied; else why none are (the store's <see cref="RegistrySettingsStore.NotApplied"/>).</summary>
    public string? NotApplied => _store.NotApplied;

    /// <summary>The merged desired document (without <c>$</c>-members), as last received.</summary>
    public JObject Desired
    {
        get
        {
            lock (_gate)
            {
                return (JObject)_desired.DeepClone();
            }
        }
    }

    /// <summary>A whole desired document replaces the previous one (twin GET, standalone file).</summary>
    public DesiredStatus ApplyFull(JObject desired, long version) =>
        Process(JsonMergePatch.WithoutMetadata(desired), version);

    /// <summary>A desired patch merged into the last whole document (null members delete).</summary>
    public DesiredStatus ApplyPatch(JObject patch, long version)
    {
        JObject merged;
        lock (_gate)
        {
            merged = JsonMergePatch.Apply(_desired, JsonMergePatch.WithoutMetadata(patch));
        }

        return Process(merged, version);
    }

    /// <summary>The desired document could not even be read (for example a standalone file that is not JSON, or absent).</summary>
    public DesiredStatus Reject(long version, string reason)
    {
        DesiredStatus status;
        lock (_gate)
        {
            status = Rejection(version, [reason]);
        }

        Log.Rejected(_logger, version, status.Description);
        Publish(status);
        return status;
    }

    /// <summary>The status of a rejected document; with nothing applied yet, the store learns why (called under the lock).</summary>
    private DesiredStatus Rejection(long version, IReadOnlyList<string> reasons)
    {
        var joined = string.Join("; ", reasons);
        if (_store.NotApplied is null)
        {
            return new DesiredStatus(version, 400, DesiredStatus.KeptPrefix + joined);
        }

        _store.NotYetApplied($"desired properties{(version > 0 ? $" version {version}" : "")} not applied: {joined}");
        return new DesiredStatus(version, 400, DesiredStatus.NothingAppliedPrefix + joined);
    }

    private DesiredStatus Process(JObject merged, long version)
    {
        var result = DesiredPropertiesParser.Parse(merged, _environment is null ? null : name => _environment[name]);
        DesiredStatus status;
        lock (_gate)
        {
            _desired = merged;
            if (result.Settings is not null)
            {
                _store.Stage(result.Settings);
                _logLevel?.Set(result.ExplicitLogLevel);
                status = new DesiredStatus(version, 200, "applied");
            }
            else
            {
                status = Rejection(version, result.Errors);
            }

            _status = status;
            _notifications.Post(() => StatusChanged?.Invoke(status));
        }

        _store.DeliverChanges();
        if (status.Code == 200)
        {
            Log.Applied(_logger, version, result.Settings!.Mode.ToString(), result.Settings.Name ?? "(unnamed)");
            ReportUnknownMembers(version, result.Warnings);
        }
        else
        {
            Log.Rejected(_logger, version, status.Description);
        }

        _notifications.Deliver();
        return status;
    }

    private void ReportUnknownMembers(long version, IReadOnlyList<string> members)
    {
        if (members.Count == 0)
        {
            _state?.ClearStatusDetail(UnknownMembersCode);
            return;
        }

        var list = string.Join(", ", members);
        Log.UnknownMembers(_logger, version, list);
        _state?.SetStatusDetail(new StatusDetail(UnknownMembersCode, "Warning", $"desired properties have members this module does not know, ignored: {list}", _time.GetUtcNow()));
    }

    private void Publish(DesiredStatus status)
    {
        lock (_gate)
        {
            _status = status;
            _notifications.Post(() => StatusChanged?.Invoke(status));
        }

        _notifications.Deliver();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 310, Level = LogLevel.Information, Message = "Desired properties version {Version} applied: registry {Name}, mode {Mode}")]
        public static partial void Applied(ILogger logger, long version, string mode, string name);

        [LoggerMessage(EventId = 311, Level = LogLevel.Warning, Message = "Desired properties version {Version} not applied: {Reason}")]
        public static partial void Rejected(ILogger logger, long version, string reason);

        [LoggerMessage(EventId = 312, Level = LogLevel.Warning, Message = "Desired properties version {Version} applied, but these members are unknown and ignored: {Members}")]
        public static partial void UnknownMembers(ILogger logger, long version, string members);
    }
}
