using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConnectedRegistry.Tests.Sync;

/// <summary>
/// <c>sync.bandwidth</c> over time, on a fake clock: which cap applies when (<see cref="BandwidthPeriod"/>), that the
/// limiter follows schedules and twin changes and reports the cap, and that the shared bucket meters bytes.
/// </summary>
public sealed class BandwidthLimitTests : IAsyncDisposable
{
    // Monday 2 March 2026, 06:00 UTC.
    private static readonly DateTimeOffset Monday6 = new(2026, 3, 2, 6, 0, 0, TimeSpan.Zero);

    private static readonly BandwidthSettings WorkingDay = new()
    {
        LimitMbps = 20,
        Schedules = [new BandwidthSchedule("0 7 * * 1-5", TimeSpan.FromHours(11), 2)],
    };

    private readonly ObservedTimeProvider _time = new(Monday6);
    private readonly RegistrySettingsStore _settings = new();
    private readonly ModuleState _state = new();
    private BandwidthLimiter? _limiter;

    [Fact]
    public void The_working_day_schedule_caps_from_7_to_18_on_weekdays_and_the_flat_cap_applies_otherwise()
    {
        Assert.Equal(new BandwidthPeriod(20, Monday6.AddHours(1)), BandwidthPeriod.At(WorkingDay, Monday6));
        Assert.Equal(new BandwidthPeriod(2, Monday6.AddHours(12)), BandwidthPeriod.At(WorkingDay, Monday6.AddHours(1)));
        Assert.Equal(new BandwidthPeriod(2, Monday6.AddHours(12)), BandwidthPeriod.At(WorkingDay, Monday6.AddHours(11.99)));
        Assert.Equal(new BandwidthPeriod(20, Monday6.AddDays(1).AddHours(1)), BandwidthPeriod.At(WorkingDay, Monday6.AddHours(12)));

        // Saturday: no schedule opens until Monday 07:00.
        var saturday = Monday6.AddDays(5).AddHours(4);
        Assert.Equal(new BandwidthPeriod(20, Monday6.AddDays(7).AddHours(1)), BandwidthPeriod.At(WorkingDay, saturday));
    }

    [Fact]
    public void Overlapping_schedules_take_the_lowest_cap_and_no_flat_cap_means_none_outside_them()
    {
        var bandwidth = new BandwidthSettings
        {
            Schedules =
            [
                new BandwidthSchedule("0 7 * * *", TimeSpan.FromHours(4), 5),
                new BandwidthSchedule("0 9 * * *", TimeSpan.FromHours(1), 1),
            ],
        };

        Assert.Equal(new BandwidthPeriod(null, Monday6.AddHours(1)), BandwidthPeriod.At(bandwidth, Monday6));
        Assert.Equal(new BandwidthPeriod(5, Monday6.AddHours(3)), BandwidthPeriod.At(bandwidth, Monday6.AddHours(2)));
        Assert.Equal(new BandwidthPeriod(1, Monday6.AddHours(4)), BandwidthPeriod.At(bandwidth, Monday6.AddHours(3.5)));
        Assert.Equal(new BandwidthPeriod(5, Monday6.AddHours(5)), BandwidthPeriod.At(bandwidth, Monday6.AddHours(4)));
        Assert.Equal(new BandwidthPeriod(null, Monday6.AddDays(1).AddHours(1)), BandwidthPeriod.At(bandwidth, Monday6.AddHours(5)));
        Assert.Equal(new BandwidthPeriod(null, null), BandwidthPeriod.At(BandwidthSettings.Unlimited, Monday6));
    }

    [Fact]
    public async Task The_limiter_follows_the_schedule_as_the_clock_passes_its_start_and_end_and_reports_the_cap()
    {
        var throttle = await StartLimiterAsync(WorkingDay);
        Assert.Equal(20_000_000, throttle.LimitBitsPerSecond);
        Assert.Equal(20, _state.Snapshot().Sync.BandwidthLimitMbps);

        var waits = _limiter!.Waits;
        await AdvanceAsync(TimeSpan.FromHours(1));
        await Poll.UntilAsync(() => throttle.LimitBitsPerSecond == 2_000_000, "the 2 Mbit/s cap");
        Assert.Equal(2, _state.Snapshot().Sync.BandwidthLimitMbps);
        // The cap is set before the limiter arms its wait for the window's end: the clock moves on only once it waits
        // (advanced before, the wait would be armed 11 hours late and the test would time out).
        await Poll.UntilAsync(() => _limiter.Waits > waits, "the limiter waiting for the window's end");

        await AdvanceAsync(TimeSpan.FromHours(11));
        await Poll.UntilAsync(() => throttle.LimitBitsPerSecond == 20_000_000, "the 20 Mbit/s cap");
        Assert.Equal(20, _state.Snapshot().Sync.BandwidthLimitMbps);
    }

    [Fact]
    public async Task A_twin_change_applies_at_once_and_removing_the_cap_reports_null()
    {
        var throttle = await StartLimiterAsync(WorkingDay);

        _settings.Apply(_settings.Current with { Sync = _settings.Current.Sync with { Bandwidth = new BandwidthSettings { LimitMbps = 4 } } });
        Assert.Equal(4_000_000, throttle.LimitBitsPerSecond); // on the twin pipeline's thread, no clock needed
        Assert.Equal(4, _state.Snapshot().Sync.BandwidthLimitMbps);

        _settings.Apply(_settings.Current with { Sync = _settings.Current.Sync with { Bandwidth = BandwidthSettings.Unlimited } });
        Assert.Null(throttle.LimitBitsPerSecond);
        Assert.Null(_state.Snapshot().Sync.BandwidthLimitMbps);
    }

    [Fact]
    public async Task The_bucket_lets_a_chunk_through_only_when_the_clock_has_paid_for_it()
    {
        var throttle = new LinkThrottle(_time);
        throttle.SetLimit(8 * 16 * 1024); // 16 KiB/s: the bucket saves half a chunk, no more
        await AdvanceAsync(TimeSpan.FromSeconds(10));
        var first = throttle.AcquireAsync(LinkThrottle.ChunkBytes, default).AsTask();
        Assert.False(first.IsCompleted); // it armed its wait on the fake clock before returning
        for (var i = 0; i < 4 && !first.IsCompleted; i++)
        {
            await AdvanceAsync(TimeSpan.FromMilliseconds(100), first);
        }

        Assert.False(first.IsCompleted); // half a chunk saved and 0.4 s paid: 0.9 of a chunk
        await AdvanceAsync(TimeSpan.FromMilliseconds(150), first);
        await first.WaitAsync(TimeSpan.FromSeconds(5));

        // Removing the cap releases a waiting transfer at its next look.
        var second = throttle.AcquireAsync(LinkThrottle.ChunkBytes, default).AsTask();
        throttle.SetLimit(null);
        await AdvanceAsync(TimeSpan.FromMilliseconds(100), second);
        await second.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_chunk_waiting_for_the_bucket_goes_before_small_pieces_asked_for_after_it()
    {
        var throttle = new LinkThrottle(_time);
        throttle.SetLimit(8 * 16 * 1024); // 16 KiB/s
        var chunk = throttle.AcquireAsync(LinkThrottle.ChunkBytes, default).AsTask();
        var piece = throttle.AcquireAsync(1024, default).AsTask();
        Assert.False(chunk.IsCompleted);
        Assert.False(piece.IsCompleted);

        // 1 KiB is paid long before 16 KiB, but the piece asked after the chunk: it waits for its turn behind it.
        // (Served by who finds enough in the bucket first, a reader paying for 4 KiB segments kept a request's
        // 16 KiB chunk waiting until its blob was done.)
        for (var i = 0; i < 9; i++)
        {
            await AdvanceAsync(TimeSpan.FromMilliseconds(100), Task.WhenAny(chunk, piece));
        }

        Assert.False(chunk.IsCompleted);
        Assert.False(piece.IsCompleted);
        for (var i = 0; i < 20 && !(chunk.IsCompleted && piece.IsCompleted); i++)
        {
            await AdvanceAsync(TimeSpan.FromMilliseconds(100), chunk.IsCompleted ? piece : chunk);
        }

        await chunk.WaitAsync(TimeSpan.FromSeconds(5));
        await piece.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(_time.GetUtcNow() - Monday6 >= TimeSpan.FromSeconds(1.0), "the piece went once the chunk and it were paid");
    }

    private async Task<LinkThrottle> StartLimiterAsync(BandwidthSettings bandwidth)
    {
        _settings.Apply(new RegistrySettings { Sync = new SyncSettings { Bandwidth = bandwidth } });
        var throttle = new LinkThrottle(_time);
        _limiter = new BandwidthLimiter(_settings, throttle, _state, _time, NullLogger<BandwidthLimiter>.Instance);
        await _limiter.StartAsync(default);
        await Poll.UntilAsync(() => _limiter.Waits > 0, "a read waiting for the limiter");
        return throttle;
    }

    private async Task AdvanceAsync(TimeSpan by, Task? transfer = null)
    {
        var armings = _time.Armings;
        _time.Advance(by);
        if (transfer is not null)
        {
            // A transfer whose wait ended looks at the bucket again: it either goes through or arms its next wait.
            await Poll.UntilAsync(() => transfer.IsCompleted || _time.Armings > armings, "the transfer through or waiting again");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_limiter is not null)
        {
            await _limiter.StopAsync(default);
            _limiter.Dispose();
        }
    }
}
