using ConnectedRegistry.Auth;
using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.Tests.Auth;

public class LoginRateLimiterTests
{
    [Fact]
    public void Name_is_blocked_at_the_limit_until_the_oldest_failure_leaves_the_window()
    {
        var time = new FakeTimeProvider();
        var limiter = new LoginRateLimiter(time, new AuthOptions { MaxFailuresPerWindow = 3, MaxFailuresPerAddress = 100, FailureWindow = TimeSpan.FromMinutes(1) });
        limiter.RecordFailure("10.0.0.1", "puller");
        time.Advance(TimeSpan.FromSeconds(20));
        limiter.RecordFailure("10.0.0.1", "puller");
        Assert.False(limiter.IsBlocked("10.0.0.1", "puller", out _));
        limiter.RecordFailure("10.0.0.1", "puller");

        Assert.True(limiter.IsBlocked("10.0.0.1", "puller", out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(40), retryAfter);

        // Other names from the same address (a shared API proxy) and other addresses are not affected.
        Assert.False(limiter.IsBlocked("10.0.0.1", "other", out _));
        Assert.False(limiter.IsBlocked("10.0.0.1", null, out _));
        Assert.False(limiter.IsBlocked("10.0.0.2", "puller", out _));

        time.Advance(TimeSpan.FromSeconds(40));
        Assert.False(limiter.IsBlocked("10.0.0.1", "puller", out _));
    }

    [Fact]
    public void Guessing_across_many_names_blocks_the_whole_address()
    {
        var limiter = new LoginRateLimiter(new FakeTimeProvider(), new AuthOptions { MaxFailuresPerWindow = 3, MaxFailuresPerAddress = 5 });
        for (var i = 0; i < 5; i++)
        {
            limiter.RecordFailure("10.0.0.1", $"name-{i}");
        }

        Assert.True(limiter.IsBlocked("10.0.0.1", "never-tried", out _));
        Assert.True(limiter.IsBlocked("10.0.0.1", null, out _));
        Assert.False(limiter.IsBlocked("10.0.0.2", "never-tried", out _));
    }
}
