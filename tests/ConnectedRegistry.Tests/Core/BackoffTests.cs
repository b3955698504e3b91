using ConnectedRegistry.Core;

namespace ConnectedRegistry.Tests.Core;

/// <summary>The one doubling wait of the loops Polly cannot own, pinned to the waits each loop had before.</summary>
public sealed class BackoffTests
{
    private static TimeSpan[] Waits(Backoff backoff, int count) => [.. Enumerable.Range(1, count).Select(backoff.After)];

    private static TimeSpan[] Seconds(params double[] seconds) => [.. seconds.Select(TimeSpan.FromSeconds)];

    [Fact]
    public void The_change_feed_doubles_its_2_s_pause_up_to_60_s()
    {
        // Before: min(60 s, FeedRetryDelay << min(failures - 1, 5)).
        Assert.Equal(Seconds(2, 4, 8, 16, 32, 60, 60), Waits(new Backoff(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(60)), 7));
        Assert.Equal(Seconds(1, 2, 4, 8, 16, 32, 32), Waits(new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(32)), 7));
    }

    [Fact]
    public void The_tls_renewal_doubles_its_minute_up_to_an_hour()
    {
        Assert.Equal([.. new double[] { 1, 2, 4, 8, 16, 32, 60, 60 }.Select(TimeSpan.FromMinutes)], Waits(new Backoff(TimeSpan.FromMinutes(1), TimeSpan.FromHours(1)), 8));
    }

    [Fact]
    public void A_jittered_wait_is_between_half_and_all_of_its_ceiling_and_a_long_run_of_failures_does_not_overflow()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15), Jitter: true);
        for (var failures = 1; failures <= 100; failures++)
        {
            var ceiling = TimeSpan.FromSeconds(Math.Min(15, Math.Pow(2, Math.Min(failures - 1, 30))));
            Assert.InRange(backoff.After(failures), ceiling / 2, ceiling);
        }

        Assert.Equal(TimeSpan.FromDays(1), new Backoff(TimeSpan.FromHours(1), TimeSpan.FromDays(1)).After(int.MaxValue));
    }
}
