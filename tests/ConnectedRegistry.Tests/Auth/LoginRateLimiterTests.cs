using ConnectedRegistry.Auth;
using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.Tests.Auth;

public class LoginRateLimiterTests
{
    [Fact]
    public void Address_is_blocked_at_the_limit_until_the_oldest_failure_leaves_the_window()
    {
        var time = new FakeTimeProvider();
        var limiter = new LoginRateLimiter(time, new AuthOptions { MaxFailuresPerWindow = 3, FailureWindow = TimeSpan.FromMinutes(1) });
        limiter.RecordFailure("10.0.0.1");
        time.Advance(TimeSpan.FromSeconds(20));
        limiter.RecordFailure("10.0.0.1");
        Assert.False(limiter.IsBlocked("10.0.0.1", out _));
        limiter.RecordFailure("10.0.0.1");

        Assert.True(limiter.IsBlocked("10.0.0.1", out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(40), retryAfter);
        Assert.False(limiter.IsBlocked("10.0.0.2", out _));

        time.Advance(TimeSpan.FromSeconds(40));
        Assert.False(limiter.IsBlocked("10.0.0.1", out _));
    }
}
