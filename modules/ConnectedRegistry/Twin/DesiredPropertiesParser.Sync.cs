using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// <c>sync</c>: the schedule and window, the message TTL, the repositories of the sync set, on-demand fetch and the
/// parent's idle timeout; its <c>bandwidth</c>, <c>platforms</c> and <c>filters</c> are their own files.
/// </summary>
public static partial class DesiredPropertiesParser
{
    public static readonly TimeSpan MinWindow = TimeSpan.FromHours(1);
    public static readonly TimeSpan MaxWindow = TimeSpan.FromDays(7);
    public static readonly TimeSpan MinMessageTtl = TimeSpan.FromDays(1);
    public static readonly TimeSpan MaxMessageTtl = TimeSpan.FromDays(90);

    /// <summary>
    /// <c>sync.parentIdleTimeout</c>: at least a second (shorter, a busy parent's pauses would end good transfers), at
    /// most an hour (longer, a stalled parent holds its download and every client of it for as long).
    /// </summary>
    public static readonly TimeSpan MinParentIdleTimeout = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxParentIdleTimeout = TimeSpan.FromHours(1);

    /// <summary>The rules of <c>sync.window</c>, <c>sync.messageTtl</c> and <c>sync.parentIdleTimeout</c> (<see cref="SettingRules.Duration"/>).</summary>
    public static readonly SettingRule<TimeSpan> WindowRule = SettingRules.Duration(MinWindow, MaxWindow, MinWindow);
    public static readonly SettingRule<TimeSpan> MessageTtlRule = SettingRules.Duration(MinMessageTtl, MaxMessageTtl, new SyncSettings().MessageTtl);
    public static readonly SettingRule<TimeSpan> ParentIdleTimeoutRule = SettingRules.Duration(MinParentIdleTimeout, MaxParentIdleTimeout, new SyncSettings().ParentIdleTimeout);

    private static SyncSettings ParseSync(JObject doc, List<string> errors, List<string> warnings)
    {
        var defaults = new SyncSettings();
        if (Obj(doc, "sync", "sync", errors) is not { } sync)
        {
            return defaults;
        }

        var schedule = Cron(Str(sync, "schedule", "sync.schedule", errors) ?? defaults.Schedule, "sync.schedule", errors) ?? defaults.Schedule;
        var window = Duration(sync, "window", "sync.window", WindowRule, errors);
        var ttl = Duration(sync, "messageTtl", "sync.messageTtl", MessageTtlRule, errors) ?? defaults.MessageTtl;
        var repositories = RepositoryList(sync, "repositories", "sync.repositories", errors);
        var bandwidth = ParseBandwidth(sync, errors);
        var onDemand = Bool(sync, "onDemand", "sync.onDemand", errors) ?? defaults.OnDemand;
        var platforms = PlatformList(sync, "platforms", "sync.platforms", errors) ?? [];
        var filters = FilterList(sync, "filters", "sync.filters", errors, warnings);
        var idle = Duration(sync, "parentIdleTimeout", "sync.parentIdleTimeout", ParentIdleTimeoutRule, errors) ?? defaults.ParentIdleTimeout;
        return new SyncSettings
        {
            Schedule = schedule, Window = window, MessageTtl = ttl, Repositories = repositories, Bandwidth = bandwidth, OnDemand = onDemand,
            Platforms = platforms, Filters = filters, ParentIdleTimeout = idle,
        };
    }
}
