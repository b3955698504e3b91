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

    private static SyncSettings ParseSync(JObject doc, List<string> errors, List<string> warnings)
    {
        var defaults = new SyncSettings();
        if (Obj(doc, "sync", "sync", errors) is not { } sync)
        {
            return defaults;
        }

        var schedule = Str(sync, "schedule", "sync.schedule", errors) ?? defaults.Schedule;
        if (!IsCron(schedule))
        {
            errors.Add($"sync.schedule '{Shorten(schedule)}' is not a valid 5-field cron expression");
        }

        var window = Duration(sync, "window", "sync.window", MinWindow, MaxWindow, "PT1H", "P7D", errors);
        var ttl = Duration(sync, "messageTtl", "sync.messageTtl", MinMessageTtl, MaxMessageTtl, "P1D", "P90D", errors) ?? defaults.MessageTtl;
        var repositories = RepositoryList(sync, "repositories", "sync.repositories", errors);
        var bandwidth = ParseBandwidth(sync, errors);
        var onDemand = Bool(sync, "onDemand", "sync.onDemand", errors) ?? defaults.OnDemand;
        var platforms = PlatformList(sync, "platforms", "sync.platforms", errors) ?? [];
        var filters = FilterList(sync, "filters", "sync.filters", errors, warnings);
        var idle = Duration(sync, "parentIdleTimeout", "sync.parentIdleTimeout", MinParentIdleTimeout, MaxParentIdleTimeout, "PT1S", "PT1H", errors) ?? defaults.ParentIdleTimeout;
        return new SyncSettings
        {
            Schedule = schedule.Trim(), Window = window, MessageTtl = ttl, Repositories = repositories, Bandwidth = bandwidth, OnDemand = onDemand,
            Platforms = platforms, Filters = filters, ParentIdleTimeout = idle,
        };
    }
}
