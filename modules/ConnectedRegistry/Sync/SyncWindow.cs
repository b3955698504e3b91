using Cronos;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Where a moment falls in the sync schedule: inside a window (and when it closes), or outside (and when the
/// next one opens). The cron schedule is UTC; each occurrence opens a window of <see cref="SyncSettings.Window"/>
/// (one hour when a schedule other than every-minute has no window); overlapping windows merge. Every minute
/// with no window is continuous: always open, never closing.
/// </summary>
public sealed record SyncWindow(bool Open, DateTimeOffset? WindowEnd, DateTimeOffset? NextStart)
{
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromHours(1);
    private const int MaxSteps = 20_000;

    public static SyncWindow At(SyncSettings sync, DateTimeOffset now)
    {
        if (sync.IsContinuous)
        {
            return new SyncWindow(true, null, null);
        }

        CronExpression cron;
        try
        {
            cron = CronExpression.Parse(sync.Schedule.Trim());
        }
        catch (CronFormatException)
        {
            return new SyncWindow(false, null, null); // the twin pipeline rejects these; never sync on garbage
        }

        var window = sync.Window is { } w && w > TimeSpan.Zero ? w : DefaultWindow;
        // The first occurrence whose window [o, o + window) still covers now.
        var first = cron.GetNextOccurrence(now - window, TimeZoneInfo.Utc, inclusive: false);
        if (first is null || first > now)
        {
            return new SyncWindow(false, null, first ?? cron.GetNextOccurrence(now, TimeZoneInfo.Utc));
        }

        // Inside: merge every later occurrence that starts before the window closes.
        var end = first.Value + window;
        var next = cron.GetNextOccurrence(first.Value, TimeZoneInfo.Utc);
        for (var steps = 0; next is { } n && n <= end; steps++)
        {
            if (steps > MaxSteps)
            {
                return new SyncWindow(true, null, null); // windows so dense they never close
            }

            end = n + window > end ? n + window : end;
            next = cron.GetNextOccurrence(n, TimeZoneInfo.Utc);
        }

        return new SyncWindow(true, end, next);
    }
}
