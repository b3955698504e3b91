namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A network path that dies without a word, as a NAT, a VPN or a satellite terminal dropping its state does: every
/// loopback packet to and from one TCP port is dropped by the kernel (two <c>iptables</c> rules; the tests run as root),
/// so neither side gets a reset or an acknowledgement. A user-space proxy cannot do this: its kernel would still
/// acknowledge what it receives and answer keepalive probes. Disposing removes the rules.
/// </summary>
public sealed class PathBlackHole : IAsyncDisposable
{
    private readonly string[][] _rules;

    private PathBlackHole(string[][] rules) => _rules = rules;

    /// <summary>Drops every loopback packet to or from <paramref name="port"/> from now on.</summary>
    public static async Task<PathBlackHole> DropAsync(int port)
    {
        string[][] rules =
        [
            ["INPUT", "-i", "lo", "-p", "tcp", "--dport", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-j", "DROP"],
            ["INPUT", "-i", "lo", "-p", "tcp", "--sport", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-j", "DROP"],
        ];
        var added = new List<string[]>();
        try
        {
            foreach (var rule in rules)
            {
                await Tools.RunAsync("iptables", ["-w", "-I", .. rule]);
                added.Add(rule);
            }
        }
        catch
        {
            await new PathBlackHole([.. added]).DisposeAsync();
            throw;
        }

        return new PathBlackHole(rules);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var rule in _rules)
        {
            await Tools.RunToExitAsync("iptables", ["-w", "-D", .. rule]);
        }
    }
}
