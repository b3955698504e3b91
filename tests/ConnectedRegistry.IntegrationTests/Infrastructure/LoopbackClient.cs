using System.Net;
using System.Net.Sockets;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>HTTP clients whose connections leave from a loopback address of their own (127.0.0.x are all local on Linux), to play several client addresses.</summary>
internal static class LoopbackClient
{
    /// <summary>An HTTP client whose connections leave from <paramref name="local"/>.</summary>
    public static HttpClient From(string local, Uri baseAddress) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(new IPEndPoint(IPAddress.Parse(local), 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    })
    { BaseAddress = baseAddress };
}
