using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The cap that <c>sync.bandwidth</c> sets at a moment, and when that can next change. Each schedule's occurrences
/// open windows of its duration exactly as the sync schedule does (<see cref="SyncWindow"/>: UTC, overlapping
/// occurrences merge); while one or more schedules are open the lowest of their caps applies, otherwise
/// <see cref="BandwidthSettings.LimitMbps"/> (null: no cap).
/// </summary>
public sealed record BandwidthPeriod(double? LimitMbps, DateTimeOffset? NextChange)
{
    public static BandwidthPeriod At(BandwidthSettings bandwidth, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(bandwidth);
        double? limit = null;
        DateTimeOffset? next = null;
        foreach (var schedule in bandwidth.Schedules)
        {
            var window = SyncWindow.At(new SyncSettings { Schedule = schedule.Cron, Window = schedule.Duration }, now);
            if (window.Open)
            {
                limit = limit is { } l && l <= schedule.LimitMbps ? l : schedule.LimitMbps;
            }

            var change = window.Open ? window.WindowEnd : window.NextStart;
            if (change is { } c && (next is null || c < next))
            {
                next = c;
            }
        }

        return new BandwidthPeriod(limit ?? bandwidth.LimitMbps, next);
    }
}
