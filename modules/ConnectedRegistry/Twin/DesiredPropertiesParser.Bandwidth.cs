using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary><c>sync.bandwidth</c>: the cap on traffic to and from the parent, and the schedules that change it.</summary>
public static partial class DesiredPropertiesParser
{
    /// <summary>Highest cap accepted (100 Gbit/s): anything above is a typo, not a link.</summary>
    public const double MaxBandwidthMbps = 100_000;

    /// <summary>Lowest cap accepted (8 kbit/s, 1 KB/s): below it a single manifest takes minutes.</summary>
    public const double MinBandwidthMbps = 0.008;

    public const int MaxBandwidthSchedules = 20;
    public static readonly TimeSpan MinBandwidthDuration = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan MaxBandwidthDuration = TimeSpan.FromDays(7);

    /// <summary>The rules of a cap (<see cref="SettingRules.Megabits"/>) and of a schedule's duration.</summary>
    public static readonly SettingRule<double> MbpsRule = SettingRules.Megabits(MinBandwidthMbps, MaxBandwidthMbps);
    public static readonly SettingRule<TimeSpan> BandwidthDurationRule = SettingRules.Duration(MinBandwidthDuration, MaxBandwidthDuration, TimeSpan.FromHours(1));

    private static BandwidthSettings ParseBandwidth(JObject sync, List<string> errors)
    {
        if (Obj(sync, "bandwidth", "sync.bandwidth", errors) is not { } bandwidth)
        {
            return BandwidthSettings.Unlimited;
        }

        var limit = Mbps(bandwidth, "limitMbps", "sync.bandwidth.limitMbps", errors);
        var schedules = new List<BandwidthSchedule>();
        if (bandwidth.TryGetValue("schedules", out var list) && list.Type != JTokenType.Null)
        {
            if (list is not JArray array)
            {
                errors.Add("sync.bandwidth.schedules must be an array");
            }
            else if (array.Count > MaxBandwidthSchedules)
            {
                errors.Add($"sync.bandwidth.schedules has {array.Count} entries; at most {MaxBandwidthSchedules} are allowed");
            }
            else
            {
                for (var i = 0; i < array.Count; i++)
                {
                    if (BandwidthScheduleEntry(array[i], $"sync.bandwidth.schedules[{i}]", errors) is { } schedule)
                    {
                        schedules.Add(schedule);
                    }
                }
            }
        }

        return new BandwidthSettings { LimitMbps = limit, Schedules = schedules };
    }

    private static BandwidthSchedule? BandwidthScheduleEntry(JToken token, string path, List<string> errors)
    {
        if (token is not JObject entry)
        {
            errors.Add($"{path} must be an object");
            return null;
        }

        var cronText = Str(entry, "cron", $"{path}.cron", errors);
        if (cronText is null)
        {
            errors.Add($"{path}.cron is required");
        }

        var cron = cronText is null ? null : Cron(cronText, $"{path}.cron", errors);
        var durationErrors = errors.Count;
        var duration = Duration(entry, "duration", $"{path}.duration", BandwidthDurationRule, errors);
        if (duration is null && errors.Count == durationErrors)
        {
            errors.Add($"{path}.duration is required");
        }

        var limitErrors = errors.Count;
        var limit = Mbps(entry, "limitMbps", $"{path}.limitMbps", errors);
        if (limit is null && errors.Count == limitErrors)
        {
            errors.Add($"{path}.limitMbps is required");
        }

        return cron is not null && duration is { } d && limit is { } l ? new BandwidthSchedule(cron, d, l) : null;
    }

    private static double? Mbps(JObject owner, string member, string path, List<string> errors) => Number(owner, member, path, MbpsRule, errors);
}
