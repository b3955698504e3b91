using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Tests.Sync;

/// <summary>
/// <see cref="ThrottledStream"/> on real loopback connections under a real cap: the rate rule that grows the receive
/// window of a connection whose reader is late (a busy CPU), bounded for the whole link.
/// </summary>
public sealed class ThrottledStreamTests
{
    [Fact]
    public async Task Readers_late_while_the_link_runs_below_the_cap_grow_their_windows_within_one_budget_for_the_link_and_give_it_back()
    {
        var throttle = new LinkThrottle(TimeProvider.System);
        throttle.SetLimit(8_000_000); // 1 MB/s: a 10 KB starting buffer, 100 KB of late growth for the link
        var start = throttle.StartReceiveBufferBytes!.Value;
        var budget = throttle.LateGrowthBudgetBytes!.Value;
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var stop = new CancellationTokenSource();
        var connections = new List<(ThrottledStream Stream, Socket Parent, Task Sender)>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                // As the parent transport connects under a cap: a large buffer for the window scale, 4 KiB segments (with
                // loopback's 64 KiB ones a window of a few KiB opens only when the parent probes it, and every read waits).
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = throttle.ConnectReceiveBufferBytes!.Value };
                if (OperatingSystem.IsLinux())
                {
                    socket.SetRawSocketOption(6, 2, BitConverter.GetBytes(ThrottledStream.SegmentBytes)); // TCP_MAXSEG
                }

                await socket.ConnectAsync(listener.LocalEndPoint!);
                var parent = await listener.AcceptAsync();
                var stream = new ThrottledStream(new NetworkStream(socket, ownsSocket: true), throttle, socket);
                await stream.StartAsync(default);
                Assert.Equal(start, stream.ReceiveBufferBytes);

                // The parent keeps the socket full: a read never waits for it, so only the rate rule can grow the window.
                var sender = Task.Run(async () =>
                {
                    var data = new byte[64 * 1024];
                    try
                    {
                        while (true)
                        {
                            await parent.SendAsync(data, SocketFlags.None, stop.Token);
                        }
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                    {
                    }
                });
                connections.Add((stream, parent, sender));
            }

            await Task.Delay(300); // the windows full before the first read

            // Each reader takes a chunk and then sleeps 100 ms: together about 2.6 Mbit/s against the 8 Mbit/s cap, the
            // bucket full of tokens no one takes.
            var watch = Stopwatch.StartNew();
            await Task.WhenAll(connections.Select(c => Task.Run(async () =>
            {
                var buffer = new byte[LinkThrottle.ChunkBytes];
                while (watch.Elapsed < TimeSpan.FromSeconds(4))
                {
                    Assert.True(await c.Stream.ReadAsync(buffer) > 0);
                    await Task.Delay(100);
                }
            })));

            // 8 spans of half a second each, growing by half from 10 KB: the budget is used up, and nothing more is given.
            // (A read that found the socket empty for a moment grows its window by the round-trip rule instead, by at most
            // half a chunk at a time: 8 KiB seen once in a run.)
            var grown = connections.Sum(c => c.Stream.ReceiveBufferBytes - start);
            Assert.Equal(0, throttle.TakeLateGrowth(1));
            Assert.True(grown >= budget && grown <= budget + LinkThrottle.ChunkBytes, $"the windows grew by {grown} bytes together, the link's budget is {budget}");
        }
        finally
        {
            stop.Cancel();
            foreach (var (stream, parent, sender) in connections)
            {
                await stream.DisposeAsync();
                parent.Dispose();
                await sender;
            }
        }

        // Closed, the connections gave their growth back: the next late reader may take all of it.
        Assert.Equal(budget, throttle.TakeLateGrowth(budget));
        throttle.ReturnLateGrowth(budget);
    }
}
