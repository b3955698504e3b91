using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// The link emulator's own figures, against a plain TCP sink and echo: the bandwidth and drop tests of the sync
/// engine rely on its cap, its counters and its drops being what they say.
/// </summary>
public sealed class LinkEmulatorTests
{
    [Fact]
    public async Task Cap_holds_the_rate_in_each_direction_and_the_counters_match_what_was_sent()
    {
        await using var far = TcpEcho.Start();
        await using var link = LinkEmulator.Start(far.Uri);
        link.RateBitsPerSecond = 8_000_000; // 1 MB/s
        const int bytes = 3_000_000;

        using var socket = await ConnectAsync(link);
        var watch = Stopwatch.StartNew();
        var echoed = ReadExactlyAsync(socket, bytes);
        await SendAsync(socket, bytes);
        await echoed;
        watch.Stop();

        // 3 MB each way at 1 MB/s each way: about 3 s (the two directions run at once). The cap is the lower bound;
        // the upper one only says the link kept moving: under a CPU hog the pacer's threads run late (6.8 s was seen
        // at a load of 50 on two cores), and how fast a loaded machine goes is a benchmark's question, not this test's.
        Assert.InRange(watch.Elapsed.TotalSeconds, 0.95 * 3, 30);
        Assert.Equal(bytes, link.BytesToParent);
        Assert.Equal(bytes, link.BytesFromParent);
        Assert.InRange(link.MaxWindowBitsPerSecond(TimeSpan.FromSeconds(1)), 8_000_000, 2 * 8_000_000 * 1.1);
    }

    [Fact]
    public async Task Without_a_cap_bytes_pass_as_fast_as_the_machine_goes()
    {
        await using var far = TcpEcho.Start();
        await using var link = LinkEmulator.Start(far.Uri);
        using var socket = await ConnectAsync(link);
        var watch = Stopwatch.StartNew();
        var echoed = ReadExactlyAsync(socket, 8_000_000);
        await SendAsync(socket, 8_000_000);
        await echoed;

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"8 MB each way took {watch.Elapsed}");
        Assert.Equal(16_000_000, link.TotalBytes);
    }

    [Fact]
    public async Task Drop_resets_every_connection_after_N_bytes_and_refuses_connections_for_the_down_time()
    {
        await using var far = TcpEcho.Start();
        await using var link = LinkEmulator.Start(far.Uri);
        link.DropEveryBytes = 1_000_000;
        link.DownTime = TimeSpan.FromSeconds(1.5);

        using var idle = await ConnectAsync(link); // a second connection that carries nothing: it is cut as well
        using var busy = await ConnectAsync(link);
        var received = 0L;
        var reading = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            try
            {
                int n;
                while ((n = await busy.ReceiveAsync(buffer, SocketFlags.None)) > 0)
                {
                    received += n;
                }
            }
            catch (SocketException)
            {
            }
        });
        // The sender's kernel buffer takes a few megabytes before the reset reaches it: keep sending until it does.
        await Assert.ThrowsAnyAsync<SocketException>(() => SendAsync(busy, 100_000_000));
        await reading;
        var dropped = Stopwatch.StartNew();

        Assert.Equal(1, link.Drops);
        Assert.Equal(1_000_000, link.TotalBytes); // exactly N carried (both directions), then the reset
        // What was in flight when the reset came is lost, as on a real link: at most the socket buffers' worth.
        Assert.InRange(received, link.BytesFromParent - (256 * 1024), link.BytesFromParent);
        Assert.True(await IsCutAsync(idle), "a connection that carried nothing was cut as well");

        // Down: a new connection is reset at once.
        await Assert.ThrowsAnyAsync<SocketException>(async () =>
        {
            using var during = await ConnectAsync(link);
            await during.SendAsync(new byte[10], SocketFlags.None);
            await Task.Delay(100);
            if (await during.ReceiveAsync(new byte[10], SocketFlags.None) == 0)
            {
                throw new SocketException((int)SocketError.ConnectionReset);
            }
        });

        Assert.True(link.RefusedConnections >= 1);
        Assert.True(dropped.Elapsed < link.DownTime, "the refusal was checked inside the down time");

        // Up again after the down time.
        await Task.Delay(link.DownTime - dropped.Elapsed + TimeSpan.FromMilliseconds(200));
        using var after = await ConnectAsync(link);
        var back = ReadExactlyAsync(after, 1000);
        await SendAsync(after, 1000);
        await back;
        Assert.Equal(1_002_000, link.TotalBytes);
    }

    [Fact]
    public async Task Latency_delays_every_byte_one_way()
    {
        await using var far = TcpEcho.Start();
        await using var link = LinkEmulator.Start(far.Uri);
        link.Latency = TimeSpan.FromMilliseconds(200);
        using var socket = await ConnectAsync(link);
        var watch = Stopwatch.StartNew();
        var echoed = ReadExactlyAsync(socket, 100);
        await SendAsync(socket, 100);
        await echoed;

        Assert.InRange(watch.Elapsed.TotalMilliseconds, 400, 2000); // there and back
    }

    private static async Task<bool> IsCutAsync(Socket socket)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            return await socket.ReceiveAsync(new byte[1], SocketFlags.None, timeout.Token) == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    private static async Task<Socket> ConnectAsync(LinkEmulator link)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, link.Port));
        return socket;
    }

    private static async Task SendAsync(Socket socket, int bytes)
    {
        var chunk = new byte[64 * 1024];
        Random.Shared.NextBytes(chunk);
        for (var sent = 0; sent < bytes;)
        {
            var n = Math.Min(chunk.Length, bytes - sent);
            sent += await socket.SendAsync(chunk.AsMemory(0, n), SocketFlags.None);
        }
    }

    private static async Task ReadExactlyAsync(Socket socket, int bytes)
    {
        var buffer = new byte[64 * 1024];
        for (var got = 0; got < bytes;)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(0, Math.Min(buffer.Length, bytes - got)), SocketFlags.None);
            if (n == 0)
            {
                throw new IOException($"closed after {got} of {bytes} bytes");
            }

            got += n;
        }
    }

    /// <summary>A TCP server that sends back everything it receives.</summary>
    private sealed class TcpEcho : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();

        private TcpEcho()
        {
            _listener.Start();
            _ = AcceptAsync();
        }

        public Uri Uri => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

        public static TcpEcho Start() => new();

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }

                _ = Task.Run(async () =>
                {
                    using (socket)
                    {
                        var buffer = new byte[64 * 1024];
                        try
                        {
                            int n;
                            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token)) > 0)
                            {
                                await socket.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
                            }
                        }
                        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
                        {
                        }
                    }
                });
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
        }
    }
}
