using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// edgeHub's MQTT-over-WebSocket face: real Kestrel with TLS (the edge CA's server certificate) accepts
/// <c>wss://…/$iothub/websocket</c> with subprotocol <c>mqtt</c> and relays the MQTT bytes to the test
/// edgeHub's TLS port.
/// </summary>
public sealed class WebSocketBridge : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _closing = new();
    private int _sessions;

    private WebSocketBridge(WebApplication app) => _app = app;

    public int Port { get; private set; }

    public int Sessions => Volatile.Read(ref _sessions);

    public static async Task<WebSocketBridge> StartAsync(X509Certificate2 serverCertificate, X509Certificate2 ca, int mqttPort)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o =>
        {
            o.Protocols = HttpProtocols.Http1;
            o.UseHttps(serverCertificate);
        }));
        var app = builder.Build();
        var bridge = new WebSocketBridge(app);
        app.UseWebSockets();
        app.Map("/$iothub/websocket", async (HttpContext context) =>
        {
            if (!context.WebSockets.IsWebSocketRequest || !context.WebSockets.WebSocketRequestedProtocols.Contains("mqtt"))
            {
                context.Response.StatusCode = 400;
                return;
            }

            using var socket = await context.WebSockets.AcceptWebSocketAsync("mqtt");
            Interlocked.Increment(ref bridge._sessions);
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, mqttPort);
            await using var tls = new SslStream(tcp.GetStream(), false, (_, cert, chain, errors) =>
            {
                using var verify = new X509Chain();
                verify.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                verify.ChainPolicy.CustomTrustStore.Add(ca);
                verify.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return cert is X509Certificate2 c && verify.Build(c);
            });
            await tls.AuthenticateAsClientAsync("localhost");
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, bridge._closing.Token);
            var up = Task.Run(async () =>
            {
                var buffer = new byte[16 * 1024];
                while (true)
                {
                    var received = await socket.ReceiveAsync(buffer, stop.Token);
                    if (received.MessageType == WebSocketMessageType.Close)
                    {
                        break;
                    }

                    await tls.WriteAsync(buffer.AsMemory(0, received.Count), stop.Token);
                    await tls.FlushAsync(stop.Token);
                }
            });
            var down = Task.Run(async () =>
            {
                var buffer = new byte[16 * 1024];
                int read;
                while ((read = await tls.ReadAsync(buffer, stop.Token)) > 0)
                {
                    await socket.SendAsync(buffer.AsMemory(0, read), WebSocketMessageType.Binary, true, stop.Token);
                }
            });
            await Task.WhenAny(up, down);
            await stop.CancelAsync();
            try
            {
                await Task.WhenAll(up, down);
            }
            catch (Exception)
            {
                // one side closed: the session is over
            }
        });
        await app.StartAsync();
        bridge.Port = new Uri(app.Urls.First()).Port;
        return bridge;
    }

    public async ValueTask DisposeAsync()
    {
        await _closing.CancelAsync(); // end the relayed sessions, or Kestrel waits for them to finish
        await _app.StopAsync();
        _closing.Dispose();
        await _app.DisposeAsync();
    }
}
