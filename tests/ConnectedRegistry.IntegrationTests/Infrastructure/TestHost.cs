using System.Net;
using System.Security.Cryptography;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A second machine for the tests: a network namespace of its own (<c>ip netns</c>, Debian's iproute2), joined to this
/// machine by a veth pair on a /30 of the documentation range (this machine <see cref="Gateway"/>, the host
/// <see cref="Address"/>), its default route through this machine. A nested IoT Edge device runs here: its own Docker
/// engine (<see cref="DockerDaemon.InNamespace"/>), whose host-network containers bind the same ports as the parent
/// device's without meeting them, and which reaches the parent device's addresses through the pair. Dispose removes it.
/// </summary>
public sealed class TestHost : IAsyncDisposable
{
    private readonly string _hostSide;

    private TestHost(string name, string hostSide)
    {
        Name = name;
        _hostSide = hostSide;
    }

    /// <summary>The network namespace's name (for <c>ip netns exec</c>).</summary>
    public string Name { get; }

    /// <summary>This machine's address on the pair: where the test host reaches the test's own servers.</summary>
    public IPAddress Gateway { get; } = IPAddress.Parse("198.51.100.1");

    /// <summary>The test host's address.</summary>
    public IPAddress Address { get; } = IPAddress.Parse("198.51.100.2");

    public static async Task<TestHost> CreateAsync()
    {
        if (Environment.UserName != "root")
        {
            throw new InvalidOperationException("a test host (network namespace) needs root, as scripts/test.sh runs in CI");
        }

        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        var name = "ecr-host-" + id;
        var hostSide = "ecr" + id + "a"; // interface names: 15 characters at most
        var peer = "ecr" + id + "b";
        var host = new TestHost(name, hostSide);
        try
        {
            await Ip("netns", "add", name);
            await Ip("link", "add", hostSide, "type", "veth", "peer", "name", peer);
            await Ip("link", "set", peer, "netns", name);
            await Ip("addr", "add", host.Gateway + "/30", "dev", hostSide);
            await Ip("link", "set", hostSide, "up");
            await Ip("netns", "exec", name, "ip", "link", "set", "lo", "up");
            await Ip("netns", "exec", name, "ip", "addr", "add", host.Address + "/30", "dev", peer);
            await Ip("netns", "exec", name, "ip", "link", "set", peer, "up");
            await Ip("netns", "exec", name, "ip", "route", "add", "default", "via", host.Gateway.ToString());
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Deleting one end of the pair deletes the other; the namespace goes when nothing runs in it any more.
        await Tools.RunToExitAsync("ip", ["link", "del", _hostSide]);
        await Tools.RunToExitAsync("ip", ["netns", "del", Name]);
    }

    private static Task<string> Ip(params string[] args) => Tools.RunAsync("ip", args);
}
