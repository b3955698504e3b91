using System.Net;
using System.Net.Sockets;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using static ConnectedRegistry.IntegrationTests.Infrastructure.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

/// <summary>
/// <c>X-Forwarded-Host</c> and <c>X-Forwarded-Proto</c> name the token realm only when a trusted proxy (<c>--trusted-proxies</c>)
/// sent them, and then the value the last proxy added: a client that reaches the registry directly cannot point docker's
/// credentials at a host of its choosing.
/// </summary>
public sealed class ForwardedHeadersTests
{
    private const string Password = "pw-12345";

    private static RegistrySettings Settings() => With(tokens: new() { ["line-puller"] = Token(Password, new() { ["app"] = [RegistryActions.ContentRead] }) });

    [Fact]
    public async Task A_client_that_is_not_a_trusted_proxy_cannot_move_the_realm()
    {
        // Only 127.0.0.1 is a proxy here; the client connects from 127.0.0.2 (loopback all the same, on Linux).
        await using var registry = await AuthTestRegistry.StartAsync(Settings(), new AuthOptions { TrustedProxies = TrustedProxies.Parse("127.0.0.1") });
        var host = registry.Instance.HostPort;
        using var untrusted = From(IPAddress.Parse("127.0.0.2"), registry.Instance.BaseAddress);

        foreach (var path in (string[])["/v2/", "/v2/app/manifests/latest"])
        {
            using var forged = new HttpRequestMessage(HttpMethod.Get, path);
            forged.Headers.Add("X-Forwarded-Proto", "https");
            forged.Headers.Add("X-Forwarded-Host", "collector.example:443");
            using var response = await untrusted.SendAsync(forged);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.StartsWith($"Bearer realm=\"http://{host}/acr/oauth2/token\",service=\"{host}\"", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }

        // The token endpoint's Basic challenge names the same host.
        using var token = new HttpRequestMessage(HttpMethod.Get, "/acr/oauth2/token?service=x");
        token.Headers.Add("X-Forwarded-Host", "collector.example:443");
        token.Headers.Authorization = AuthTestRegistry.Basic("line-puller", "wrong-one");
        using var refused = await untrusted.SendAsync(token);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal($"Basic realm=\"{host}\"", refused.Headers.WwwAuthenticate.ToString());

        // The trusted proxy's headers still count.
        using var proxied = new HttpRequestMessage(HttpMethod.Get, "/v2/");
        proxied.Headers.Add("X-Forwarded-Proto", "https");
        proxied.Headers.Add("X-Forwarded-Host", "parent-device:443");
        using var answer = await registry.Client.SendAsync(proxied);
        Assert.Equal("Bearer realm=\"https://parent-device:443/acr/oauth2/token\",service=\"parent-device:443\"", answer.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task From_a_chain_of_proxies_the_value_the_last_one_added_counts()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/");
        // A proxy that appends: what the client sent comes first, the proxy's own value last.
        request.Headers.TryAddWithoutValidation("X-Forwarded-Host", "collector.example, parent-device:8000");
        request.Headers.TryAddWithoutValidation("X-Forwarded-Proto", "http, https");
        using var response = await registry.Client.SendAsync(request);
        Assert.Equal("Bearer realm=\"https://parent-device:8000/acr/oauth2/token\",service=\"parent-device:8000\"", response.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task Through_the_stock_api_proxy_the_realm_is_the_proxy_whatever_the_client_sends()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        await using var proxy = await ApiProxy.StartAsync(registry.Instance.HostPort);
        using var client = proxy.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/app/manifests/latest");
        request.Headers.Add("X-Forwarded-Host", "collector.example");
        request.Headers.Add("X-Forwarded-Proto", "http");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.StartsWith($"Bearer realm=\"https://{proxy.HostPort}/acr/oauth2/token\",service=\"{proxy.HostPort}\"", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
    }

    /// <summary>A client whose connections leave from <paramref name="source"/>.</summary>
    private static HttpClient From(IPAddress source, Uri baseAddress)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.Bind(new IPEndPoint(source, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = baseAddress };
    }
}
