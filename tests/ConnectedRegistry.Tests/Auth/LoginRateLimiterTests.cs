using System.Net;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Oci;
using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.Tests.Auth;

public class LoginRateLimiterTests
{
    private static readonly ClientAddress First = new("10.0.0.1", Identified: true);
    private static readonly ClientAddress Second = new("10.0.0.2", Identified: true);

    private static void Fail(LoginRateLimiter limiter, ClientAddress client, string? user) => limiter.Begin(client, user).Failed();

    private static bool Blocked(LoginRateLimiter limiter, ClientAddress client, string? user, out TimeSpan retryAfter)
    {
        try
        {
            limiter.Begin(client, user).Dispose();
            retryAfter = TimeSpan.Zero;
            return false;
        }
        catch (OciException ex) when (ex.Error == OciErrorCode.TooManyRequests)
        {
            retryAfter = TimeSpan.FromSeconds(int.Parse(ex.Headers["Retry-After"], System.Globalization.CultureInfo.InvariantCulture));
            return true;
        }
    }

    [Fact]
    public void Name_is_blocked_at_the_limit_until_the_oldest_failure_leaves_the_window()
    {
        var time = new FakeTimeProvider();
        var limiter = new LoginRateLimiter(time, new AuthOptions { MaxFailuresPerWindow = 3, MaxFailuresPerAddress = 100, FailureWindow = TimeSpan.FromMinutes(1) });
        Fail(limiter, First, "puller");
        time.Advance(TimeSpan.FromSeconds(20));
        Fail(limiter, First, "puller");
        Assert.False(Blocked(limiter, First, "puller", out _));
        Fail(limiter, First, "puller");

        Assert.True(Blocked(limiter, First, "puller", out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(40), retryAfter);

        // Other names from the same address (a shared API proxy) and other addresses are not affected.
        Assert.False(Blocked(limiter, First, "other", out _));
        Assert.False(Blocked(limiter, First, null, out _));
        Assert.False(Blocked(limiter, Second, "puller", out _));

        time.Advance(TimeSpan.FromSeconds(40));
        Assert.False(Blocked(limiter, First, "puller", out _));
    }

    [Fact]
    public void Guessing_across_many_names_blocks_the_whole_address()
    {
        var limiter = new LoginRateLimiter(new FakeTimeProvider(), new AuthOptions { MaxFailuresPerWindow = 3, MaxFailuresPerAddress = 5 });
        for (var i = 0; i < 5; i++)
        {
            Fail(limiter, First, $"name-{i}");
        }

        Assert.True(Blocked(limiter, First, "never-tried", out _));
        Assert.True(Blocked(limiter, First, null, out _));
        Assert.False(Blocked(limiter, Second, "never-tried", out _));
    }

    [Fact]
    public void A_trusted_proxy_that_names_no_client_is_never_blocked_as_a_whole()
    {
        // Every client behind it shares its address: only each name is limited there.
        var proxy = new ClientAddress("172.18.0.5", Identified: false);
        var limiter = new LoginRateLimiter(new FakeTimeProvider(), new AuthOptions { MaxFailuresPerWindow = 3, MaxFailuresPerAddress = 5 });
        for (var i = 0; i < 20; i++)
        {
            Fail(limiter, proxy, $"name-{i}");
        }

        Assert.False(Blocked(limiter, proxy, "line-puller", out _));
        Fail(limiter, proxy, "line-puller");
        Fail(limiter, proxy, "line-puller");
        Fail(limiter, proxy, "line-puller");
        Assert.True(Blocked(limiter, proxy, "line-puller", out _));
    }

    [Fact]
    public void Attempts_still_running_hold_their_place_so_a_burst_never_passes_the_limit()
    {
        var limiter = new LoginRateLimiter(new FakeTimeProvider(), new AuthOptions { MaxFailuresPerWindow = 50, MaxFailuresPerAddress = 50 });
        var admitted = 0;
        var refused = 0;
        var attempts = new System.Collections.Concurrent.ConcurrentBag<LoginRateLimiter.LoginAttempt>();
        Parallel.For(0, 300, _ =>
        {
            try
            {
                attempts.Add(limiter.Begin(First, "line-puller"));
                Interlocked.Increment(ref admitted);
            }
            catch (OciException)
            {
                Interlocked.Increment(ref refused);
            }
        });

        Assert.Equal(50, admitted);
        Assert.Equal(250, refused);

        // Successes release their place; failures keep it for the window.
        foreach (var (attempt, i) in attempts.Select((a, i) => (a, i)))
        {
            if (i % 2 == 0)
            {
                attempt.Dispose();
            }
            else
            {
                attempt.Failed();
            }
        }

        for (var i = 0; i < 25; i++)
        {
            Assert.False(Blocked(limiter, First, "line-puller", out _), $"attempt {i}");
            Fail(limiter, First, "line-puller");
        }

        Assert.True(Blocked(limiter, First, "line-puller", out _));
    }
}

public class ClientAddressTests
{
    private static readonly TrustedProxies Trusted = TrustedProxies.Parse(TrustedProxies.Default);

    [Theory]
    [InlineData("203.0.113.7", "", "203.0.113.7", true)]
    [InlineData("203.0.113.7", "10.9.9.9", "203.0.113.7", true)]
    [InlineData("172.18.0.2", "", "172.18.0.2", false)]
    [InlineData("172.18.0.2", "192.168.1.20", "192.168.1.20", true)]
    [InlineData("172.18.0.2", "1.1.1.1, 192.168.1.20", "192.168.1.20", true)]
    [InlineData("172.18.0.2", "192.168.1.20, 172.18.0.9", "192.168.1.20", true)]
    [InlineData("127.0.0.1", "127.0.0.2", "127.0.0.2", true)]
    [InlineData("127.0.0.1", "127.0.0.5, 127.0.0.2", "127.0.0.5", true)]
    [InlineData("127.0.0.1", "192.168.1.20:51000", "192.168.1.20", true)]
    [InlineData("127.0.0.1", "[2001:db8::1]:443", "2001:db8::1", true)]
    [InlineData("127.0.0.1", "garbage", "127.0.0.1", false)]
    [InlineData("127.0.0.1", "192.168.1.20, garbage", "127.0.0.1", false)]
    [InlineData("::ffff:172.18.0.2", "192.168.1.20", "192.168.1.20", true)]
    public void The_right_most_untrusted_hop_is_the_client(string peer, string forwardedFor, string expected, bool identified)
    {
        var client = ClientAddress.Resolve(IPAddress.Parse(peer), forwardedFor, Trusted);
        Assert.Equal(expected, client.Address);
        Assert.Equal(identified, client.Identified);
    }

    [Fact]
    public void Nothing_is_trusted_when_the_list_is_empty()
    {
        var client = ClientAddress.Resolve(IPAddress.Loopback, "192.168.1.20", TrustedProxies.Parse(""));
        Assert.Equal(new ClientAddress("127.0.0.1", true), client);
    }

    [Fact]
    public void The_default_trusts_loopback_and_the_docker_networks_only()
    {
        Assert.True(Trusted.Contains(IPAddress.Parse("127.0.0.1")));
        Assert.True(Trusted.Contains(IPAddress.IPv6Loopback));
        Assert.True(Trusted.Contains(IPAddress.Parse("172.17.0.1")));
        Assert.True(Trusted.Contains(IPAddress.Parse("172.31.255.254")));
        Assert.False(Trusted.Contains(IPAddress.Parse("172.32.0.1")));
        Assert.False(Trusted.Contains(IPAddress.Parse("192.168.1.1")));
        Assert.False(Trusted.Contains(IPAddress.Parse("10.0.0.1")));
    }

    [Fact]
    public void A_bad_entry_is_named_in_the_error()
    {
        var error = Assert.Throws<ConnectedRegistry.Core.StartupException>(() => TrustedProxies.Parse("10.0.0.0/8, nonsense, 10.1.2.3"));
        Assert.Equal("--trusted-proxies (REGISTRY_TRUSTED_PROXIES) must be IP addresses or CIDR ranges such as 172.16.0.0/12, separated by commas ('nonsense' is neither), got '10.0.0.0/8, nonsense, 10.1.2.3'.", error.Message);
        Assert.True(TrustedProxies.Parse("10.0.0.0/8 10.1.2.3,fd00::/8").Contains(IPAddress.Parse("10.1.2.3")));
    }
}
