using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Tests.Sync;

public class SyncWindowTests
{
    private static DateTimeOffset At(string time) => DateTimeOffset.Parse("2026-03-01T" + time + "Z", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void Every_minute_without_window_is_continuous()
    {
        var window = SyncWindow.At(new SyncSettings(), At("10:17:33"));
        Assert.True(window.Open);
        Assert.Null(window.WindowEnd);
    }

    [Theory]
    [InlineData("00:00:00", true, "00:30:00", "01:00:00")]
    [InlineData("00:29:59", true, "00:30:00", "01:00:00")]
    [InlineData("00:30:00", false, null, "01:00:00")]
    [InlineData("00:59:59", false, null, "01:00:00")]
    [InlineData("01:00:00", true, "01:30:00", "02:00:00")]
    public void Hourly_schedule_with_half_hour_window(string now, bool open, string? end, string next)
    {
        var window = SyncWindow.At(new SyncSettings { Schedule = "0 * * * *", Window = TimeSpan.FromMinutes(30) }, At(now));
        Assert.Equal(open, window.Open);
        Assert.Equal(end is null ? null : At(end), window.WindowEnd);
        Assert.Equal(At(next), window.NextStart);
    }

    [Fact]
    public void Overlapping_windows_merge()
    {
        // Every 10 minutes, windows of 15: 00:00–00:15, 00:10–00:25, … never close.
        var dense = SyncWindow.At(new SyncSettings { Schedule = "*/10 * * * *", Window = TimeSpan.FromMinutes(15) }, At("00:05:00"));
        Assert.True(dense.Open);
        Assert.Null(dense.WindowEnd);

        // 00:00 and 00:20 with 30-minute windows, then nothing until 06:00: one window 00:00–00:50.
        var merged = SyncWindow.At(new SyncSettings { Schedule = "0,20 */6 * * *", Window = TimeSpan.FromMinutes(30) }, At("00:05:00"));
        Assert.True(merged.Open);
        Assert.Equal(At("00:50:00"), merged.WindowEnd);
        Assert.Equal(At("06:00:00"), merged.NextStart);
    }

    [Fact]
    public void Schedule_without_window_gets_one_hour()
    {
        var settings = new SyncSettings { Schedule = "0 3 * * *" };
        Assert.True(SyncWindow.At(settings, At("03:59:00")).Open);
        var closed = SyncWindow.At(settings, At("04:00:00"));
        Assert.False(closed.Open);
        Assert.Equal(At("03:00:00").AddDays(1), closed.NextStart);
    }

    [Fact]
    public void Invalid_schedule_never_opens()
    {
        var window = SyncWindow.At(new SyncSettings { Schedule = "not a cron", Window = TimeSpan.FromHours(1) }, At("00:00:00"));
        Assert.False(window.Open);
        Assert.Null(window.NextStart);
    }
}

public class SyncWindowNeverTests
{
    [Fact]
    public void A_schedule_without_any_occurrence_never_opens()
    {
        var window = SyncWindow.At(new SyncSettings { Schedule = "0 0 30 2 *", Window = TimeSpan.FromHours(1) }, DateTimeOffset.UtcNow);
        Assert.False(window.Open);
        Assert.Null(window.NextStart);
    }
}
