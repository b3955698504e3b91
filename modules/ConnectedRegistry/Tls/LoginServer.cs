using System.Net;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Tls;

/// <summary>The registry's own address as clients should use it, from the address Kestrel listens on.</summary>
public static class LoginServer
{
    /// <param name="address">An address Kestrel listens on.</param>
    /// <param name="wildcardHost">The name to report for a wildcard bind (the TLS certificate's name); null = the container's host name.</param>
    public static LoginServerStatus? FromAddress(string address, string? wildcardHost = null)
    {
        // Kestrel reports wildcard binds as http://[::]:8080, http://0.0.0.0:8080 or http://+:8080.
        var normalized = address.Replace("://+:", "://0.0.0.0:", StringComparison.Ordinal).Replace("://*:", "://0.0.0.0:", StringComparison.Ordinal);
        if (!Uri.TryCreate(normalized, UriKind.Absolute, out var uri))
        {
            return null;
        }

        var host = uri.Host;
        if (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)))
        {
            // In IoT Edge the container's host name is the module name, which other modules resolve.
            host = wildcardHost ?? Environment.MachineName.ToLowerInvariant();
        }

        return new LoginServerStatus($"{host}:{uri.Port}", uri.Scheme == Uri.UriSchemeHttps ? "Enabled" : "Disabled");
    }
}
