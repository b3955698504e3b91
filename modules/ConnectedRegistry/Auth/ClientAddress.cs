using ConnectedRegistry.Core;
using System.Net;
using Microsoft.Extensions.Primitives;

namespace ConnectedRegistry.Auth;

/// <summary>
/// Who a request came from, for rate limiting and logs. The TCP peer, unless the peer is a trusted proxy: then
/// <c>X-Forwarded-For</c> is read from the right, skipping trusted hops, and the right-most untrusted hop is the
/// client (a client can prepend anything, but cannot change what the proxies appended after it). When every
/// hop is trusted the left-most one is the client. <see cref="Identified"/> is false when the peer is a trusted
/// proxy that sent no <c>X-Forwarded-For</c>: every client behind it shares its address.
/// </summary>
public sealed record ClientAddress(string Address, bool Identified)
{
    /// <summary>Most hops read from one header; a longer chain is cut (its left part is what a client made up anyway).</summary>
    private const int MaxHops = 32;

    public override string ToString() => Address;

    public static ClientAddress Of(HttpContext context, TrustedProxies trusted) =>
        Resolve(context.Connection.RemoteIpAddress, context.Request.Headers["X-Forwarded-For"], trusted);

    public static ClientAddress Resolve(IPAddress? peer, StringValues forwardedFor, TrustedProxies trusted)
    {
        if (peer is null)
        {
            return new ClientAddress("unknown", Identified: true);
        }

        peer = Normalize(peer);
        if (!trusted.Contains(peer))
        {
            return new ClientAddress(peer.ToString(), Identified: true);
        }

        var hops = forwardedFor
            .SelectMany(value => (value ?? string.Empty).Split(','))
            .Select(hop => hop.Trim())
            .Where(hop => hop.Length > 0)
            .TakeLast(MaxHops)
            .ToList();
        if (hops.Count == 0)
        {
            return new ClientAddress(peer.ToString(), Identified: false);
        }

        IPAddress? leftmost = null;
        for (var i = hops.Count - 1; i >= 0; i--)
        {
            if (!TryParseHop(hops[i], out var hop))
            {
                // Not an address (garbage, or "unknown"): nothing to its left can be believed either.
                return new ClientAddress(leftmost?.ToString() ?? peer.ToString(), Identified: leftmost is not null);
            }

            if (!trusted.Contains(hop))
            {
                return new ClientAddress(hop.ToString(), Identified: true);
            }

            leftmost = hop;
        }

        return new ClientAddress(leftmost!.ToString(), Identified: true);
    }

    /// <summary>An address as proxies write it: <c>1.2.3.4</c>, <c>1.2.3.4:5678</c>, <c>::1</c> or <c>[::1]:5678</c>.</summary>
    private static bool TryParseHop(string text, out IPAddress address)
    {
        if (IPAddress.TryParse(text, out var parsed) || (IPEndPoint.TryParse(text, out var endpoint) && (parsed = endpoint.Address) is not null))
        {
            address = Normalize(parsed);
            return true;
        }

        address = IPAddress.None;
        return false;
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}

/// <summary>
/// The proxies whose <c>X-Forwarded-For</c> (the client, for rate limits and logs) and <c>X-Forwarded-Host</c>/<c>-Proto</c>
/// (the token realm) are believed: addresses and CIDR ranges from <c>--trusted-proxies</c>
/// (<c>REGISTRY_TRUSTED_PROXIES</c>), comma or space separated. The default is loopback and 172.16.0.0/12, where
/// Docker puts its default bridge and user-defined networks, so the IoT Edge API proxy module on the same device
/// is trusted; an empty value trusts nobody.
/// </summary>
public sealed class TrustedProxies
{
    public const string Default = "127.0.0.0/8,::1/128,172.16.0.0/12";

    private readonly IPNetwork[] _networks;

    private TrustedProxies(IPNetwork[] networks) => _networks = networks;

    public static TrustedProxies None { get; } = new([]);

    public IReadOnlyList<IPNetwork> Networks => _networks;

    public bool Contains(IPAddress address) => _networks.Any(n => n.Contains(address));

    /// <summary>Whether a TCP peer is one of these proxies (an IPv4 peer seen as IPv4-mapped IPv6 counts as IPv4).</summary>
    public bool IsProxy(IPAddress? peer) => peer is not null && Contains(peer.IsIPv4MappedToIPv6 ? peer.MapToIPv4() : peer);

    /// <summary>
    /// Parses the option's text (an empty one trusts nobody); throws, naming the option both ways and every entry that is
    /// not an address or range, in the words of every start-up option (<see cref="StartupConfiguration.Wrong"/>).
    /// </summary>
    public static TrustedProxies Parse(string text, StartupOption? option = null)
    {
        var networks = new List<IPNetwork>();
        var bad = new List<string>();
        foreach (var entry in text.Split([',', ' ', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (IPNetwork.TryParse(entry, out var network))
            {
                networks.Add(network);
            }
            else if (IPAddress.TryParse(entry, out var address))
            {
                networks.Add(new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
            }
            else
            {
                bad.Add(entry);
            }
        }

        return bad.Count == 0
            ? new TrustedProxies([.. networks])
            : throw StartupConfiguration.Wrong(option ?? AuthOptions.TrustedProxiesOption,
                $"IP addresses or CIDR ranges such as 172.16.0.0/12, separated by commas ({string.Join(", ", bad.Select(b => $"'{LogText.Escape(b)}'"))} {(bad.Count == 1 ? "is" : "are")} neither)", text);
    }
}
