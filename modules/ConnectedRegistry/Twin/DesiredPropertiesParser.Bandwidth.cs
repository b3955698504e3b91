using System.Globalization;
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

        var cron = Str(entry, "cron", $"{path}.cron", errors);
        if (cron is null)
        {
            errors.Add($"{path}.cron is required");
        }
        else if (!IsCron(cron))
        {
            errors.Add($"{path}.cron '{Shorten(cron)}' is not a valid 5-field cron expression");
        }

        var durationErrors = errors.Count;
        var duration = Duration(entry, "duration", $"{path}.duration", MinBandwidthDuration, MaxBandwidthDuration, "PT1M", "P7D", errors);
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

        return cron is not null && IsCron(cron) && duration is { } d && limit is { } l ? new BandwidthSchedule(cron.Trim(), d, l) : null;
    }

    private static double? Mbps(JObject owner, string member, string path, List<string> errors)
    {
        if (!owner.TryGetValue(member, out var value) || value.Type == JTokenType.Null)
        {
            return null;
        }

        if (value.Type is JTokenType.Integer or JTokenType.Float)
        {
            var mbps = value.Type == JTokenType.Integer && value is JValue { Value: System.Numerics.BigInteger } ? double.PositiveInfinity : value.Value<double>();
            if (double.IsFinite(mbps) && mbps >= MinBandwidthMbps && mbps <= MaxBandwidthMbps)
            {
                return mbps;
            }
        }

        errors.Add($"{path} '{Shorten(value.ToString(Newtonsoft.Json.Formatting.None))}' must be a number of megabits per second above 0, from {MinBandwidthMbps.ToString(CultureInfo.InvariantCulture)} to {MaxBandwidthMbps.ToString(CultureInfo.InvariantCulture)}");
        return null;
    }
}
