using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A thin link between the module and its parent, as a TCP proxy on 127.0.0.1:0: it counts the bytes it carries each
/// way, caps the rate (bits per second, each direction, shared by every connection: a link serialises its bytes),
/// delays every byte by a one-way latency, and can drop every connection (reset) after each N bytes carried and then
/// refuse connections for a down time. Bytes are counted as the link sends them on (one chunk at most ahead of its delivery), so the counters are what the link carried;
/// <see cref="Samples"/> records the running total every <see cref="SampleInterval"/> for window figures.
/// The link holds little in flight (small socket buffers, one chunk per direction and connection beyond the latency
/// queue), so what it counts is what the far end could actually have sent at that moment.
/// </summary>
public sealed class LinkEmulator : IAsyncDisposable
{
    public const int ChunkBytes = 16 * 1024;
    public static readonly TimeSpan SampleInterval = TimeSpan.FromMilliseconds(100);

    private readonly IPEndPoint _upstream;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Pipe, byte> _pipes = new();
    private readonly Pacer _toParent = new();
    private readonly Pacer _fromParent = new();
    private readonly Lock _dropGate = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentQueue<(TimeSpan At, long Bytes)> _samples = new();
    private readonly ConcurrentQueue<(TimeSpan At, long Bytes)> _intoModule = new();
    private readonly Lock _intoModuleGate = new();
    private long _intoModuleClosed;
    private readonly Task _acceptLoop;
    private readonly Task _sampler;
    private long _sinceDrop;
    private long _downUntilTicks;
    private long _toParentBytes;
    private long _fromParentBytes;
    private int _drops;
    private int _refused;

    private LinkEmulator(IPEndPoint upstream)
    {
        _upstream = upstream;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(128);
        _acceptLoop = AcceptLoopAsync();
        _sampler = SampleLoopAsync();
    }

    /// <summary>Starts a link to <paramref name="upstream"/> (an http URI on the loopback, or any host:port).</summary>
    public static LinkEmulator Start(Uri upstream)
    {
        var address = upstream.IsLoopback ? IPAddress.Loopback : Dns.GetHostAddresses(upstream.Host)[0];
        return new LinkEmulator(new IPEndPoint(address, upstream.Port));
    }

    /// <summary>The near end of the link: give this to the module as its parent (same scheme and path as the parent's).</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    public Uri AddressFor(Uri upstream) => new UriBuilder(upstream) { Host = "127.0.0.1", Port = Port }.Uri;

    /// <summary>Rate of the link in bits per second, each direction; null: as fast as the machine goes.</summary>
    public double? RateBitsPerSecond
    {
        get => _fromParent.BitsPerSecond;
        set
        {
            _toParent.BitsPerSecond = value;
            _fromParent.BitsPerSecond = value;
        }
    }

    /// <summary>One-way delay added to every byte, each direction.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>Every connection is reset each time the link has carried this many bytes (both directions); null: never.</summary>
    public long? DropEveryBytes { get; set; }

    /// <summary>After a drop, connections are refused (reset as soon as accepted) for this long.</summary>
    public TimeSpan DownTime { get; set; }

    public long BytesToParent => Interlocked.Read(ref _toParentBytes);

    public long BytesFromParent => Interlocked.Read(ref _fromParentBytes);

    public long TotalBytes => BytesToParent + BytesFromParent;

    public int Drops => Volatile.Read(ref _drops);

    public int RefusedConnections => Volatile.Read(ref _refused);

    /// <summary>When set, what the link saw (request lines, refused connections, drops) with its time, for a trace of a run.</summary>
    public ConcurrentQueue<(TimeSpan At, string What)>? Trace { get; set; }

    /// <summary>Time since the link started, on the clock the samples use.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>(time since start, total bytes carried both ways), every <see cref="SampleInterval"/>.</summary>
    public IReadOnlyList<(TimeSpan At, long Bytes)> Samples => [.. _samples];

    /// <summary>
    /// (time since start, bytes in the module's sockets), every <see cref="SampleInterval"/>: the kernel's count of what
    /// the module's side acknowledged on each connection (Linux <c>tcpi_bytes_acked</c> of the link's socket to the
    /// module), the wire as the parent's TCP sees it, without the link's own chunk and send buffer in between.
    /// Empty where the kernel does not tell.
    /// </summary>
    public IReadOnlyList<(TimeSpan At, long Bytes)> IntoModuleSamples => [.. _intoModule];

    /// <summary>
    /// The highest average rate (bits per second) over any window of <paramref name="window"/> between two samples
    /// taken from <paramref name="from"/> on (a window of bytes that ends before <paramref name="from"/> is not looked at).
    /// </summary>
    public double MaxWindowBitsPerSecond(TimeSpan window, TimeSpan from = default) => MaxWindowBitsPerSecond(Samples, window, from);

    /// <summary>The same over <paramref name="series"/> (<see cref="Samples"/> or <see cref="IntoModuleSamples"/>).</summary>
    public static double MaxWindowBitsPerSecond(IReadOnlyList<(TimeSpan At, long Bytes)> series, TimeSpan window, TimeSpan from = default)
    {
        var samples = series.Where(s => s.At >= from).ToList();
        var best = 0.0;
        var j = 0;
        for (var i = 0; i < samples.Count; i++)
        {
            while (j < samples.Count && samples[j].At - samples[i].At < window)
            {
                j++;
            }

            if (j == samples.Count)
            {
                break;
            }

            var seconds = (samples[j].At - samples[i].At).TotalSeconds;
            best = Math.Max(best, (samples[j].Bytes - samples[i].Bytes) * 8 / seconds);
        }

        return best;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            if (_clock.Elapsed.Ticks < Interlocked.Read(ref _downUntilTicks))
            {
                Interlocked.Increment(ref _refused);
                Trace?.Enqueue((_clock.Elapsed, "link: connection refused"));
                Reset(client);
                continue;
            }

            _ = ConnectAsync(client);
        }
    }

    private async Task ConnectAsync(Socket client)
    {
        var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await upstream.ConnectAsync(_upstream, _stop.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
        {
            Reset(client);
            upstream.Dispose();
            return;
        }

        foreach (var socket in new[] { client, upstream })
        {
            // Counted is (nearly) delivered: the link's own send buffers stay as small as the kernel allows, so a byte counted
            // has reached the far end's socket, not a queue of the link's (megabytes, left to the kernel's tuning).
            socket.NoDelay = true;
            socket.SendBufferSize = 4096;
            socket.ReceiveBufferSize = 32 * 1024;
        }

        var pipe = new Pipe(client, upstream, ClosedPipeAcked);
        _pipes[pipe] = 0;
        try
        {
            await Task.WhenAll(
                PumpAsync(pipe, client, upstream, toParent: true),
                PumpAsync(pipe, upstream, client, toParent: false));
        }
        finally
        {
            pipe.Close(reset: false); // leaves the link's list with its count kept (ClosedPipeAcked)
            _pipes.TryRemove(pipe, out _);
        }
    }

    private async Task PumpAsync(Pipe pipe, Socket from, Socket to, bool toParent)
    {
        var pacer = toParent ? _toParent : _fromParent;
        var queue = Channel.CreateBounded<(byte[] Data, int Length, TimeSpan Due)>(new BoundedChannelOptions(64) { SingleReader = true, SingleWriter = true });
        var token = pipe.Cancel.Token;
        var writer = Task.Run(
            async () =>
            {
                try
                {
                    await foreach (var (data, length, due) in queue.Reader.ReadAllAsync(token))
                    {
                        // Task.Delay's timer may fire a little before the stopwatch says: wait until the stopwatch agrees.
                        for (var wait = due - _clock.Elapsed; wait > TimeSpan.Zero; wait = due - _clock.Elapsed)
                        {
                            await Task.Delay(wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait, token);
                        }

                        var (carried, drop) = TakeUntilDrop(pipe, length);
                        if (carried > 0)
                        {
                            // Counted when the link takes them, before the send: a drop made by the other direction
                            // while this send is under way must not lose them from the count (the link carried them;
                            // what a reset loses in flight is the receiver's loss, as on a real link).
                            Interlocked.Add(ref toParent ? ref _toParentBytes : ref _fromParentBytes, carried);
                            await to.SendAsync(data.AsMemory(0, carried), SocketFlags.None, token);
                        }

                        if (drop)
                        {
                            DropAll();
                        }

                        if (carried < length)
                        {
                            return;
                        }
                    }

                    to.Shutdown(SocketShutdown.Send);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    pipe.Close(reset: true);
                }
            },
            CancellationToken.None);
        try
        {
            while (true)
            {
                var buffer = new byte[ChunkBytes];
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, token);
                if (read == 0)
                {
                    break;
                }

                if (toParent && Trace is { } trace && read > 4 && buffer[0] is (byte)'G' or (byte)'H' or (byte)'P' or (byte)'D')
                {
                    var line = System.Text.Encoding.ASCII.GetString(buffer, 0, Math.Min(read, 200));
                    trace.Enqueue((_clock.Elapsed, "link: request " + line[..Math.Max(0, line.IndexOf('\r'))]));
                }

                await pacer.WaitAsync(read, _clock, token);
                await queue.Writer.WriteAsync((buffer, read, _clock.Elapsed + Latency), token);
            }

            queue.Writer.TryComplete();
            await writer;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or ChannelClosedException)
        {
            queue.Writer.TryComplete();
            pipe.Close(reset: true);
        }
    }

    /// <summary>
    /// How many of <paramref name="length"/> bytes the link carries before the next drop, and whether it drops then.
    /// A connection already doomed by a drop carries nothing more, so the link carries exactly N bytes between drops.
    /// </summary>
    private (int Carried, bool Drop) TakeUntilDrop(Pipe pipe, int length)
    {
        lock (_dropGate)
        {
            if (pipe.Doomed)
            {
                return (0, false);
            }

            if (DropEveryBytes is not { } every)
            {
                return (length, false);
            }

            var left = every - _sinceDrop;
            if (length < left)
            {
                _sinceDrop += length;
                return (length, false);
            }

            _sinceDrop = 0;
            Interlocked.Exchange(ref _downUntilTicks, (_clock.Elapsed + DownTime).Ticks);
            foreach (var other in _pipes.Keys)
            {
                other.Doomed = true;
            }

            return ((int)left, true);
        }
    }

    /// <summary>Drops every connection now and refuses new ones for <paramref name="downTime"/> (a drop at a moment the test picks).</summary>
    public void GoDown(TimeSpan downTime)
    {
        lock (_dropGate)
        {
            Interlocked.Exchange(ref _downUntilTicks, (_clock.Elapsed + downTime).Ticks);
            foreach (var other in _pipes.Keys)
            {
                other.Doomed = true;
            }
        }

        DropAll();
    }

    private void DropAll()
    {
        Interlocked.Increment(ref _drops);
        Trace?.Enqueue((_clock.Elapsed, "link: drop"));
        foreach (var pipe in _pipes.Keys)
        {
            pipe.Close(reset: true);
        }
    }

    private async Task SampleLoopAsync()
    {
        using var timer = new PeriodicTimer(SampleInterval);
        _samples.Enqueue((_clock.Elapsed, 0));
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                _samples.Enqueue((_clock.Elapsed, TotalBytes));
                if (OperatingSystem.IsLinux())
                {
                    lock (_intoModuleGate)
                    {
                        _intoModule.Enqueue((_clock.Elapsed, _intoModuleClosed + _pipes.Keys.Sum(p => p.AckedByModule())));
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>A connection closing: what its module side acknowledged stays in the count.</summary>
    private void ClosedPipeAcked(Pipe pipe)
    {
        lock (_intoModuleGate)
        {
            _intoModuleClosed += pipe.AckedByModule();
            _pipes.TryRemove(pipe, out _);
        }
    }

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0); // close with RST: "connection reset by peer"
            socket.Close();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        foreach (var pipe in _pipes.Keys)
        {
            pipe.Close(reset: true);
        }

        await _acceptLoop;
        await _sampler;
        _stop.Dispose();
    }

    /// <summary>One connection through the link: the module's side and the parent's side.</summary>
    private sealed class Pipe(Socket client, Socket upstream, Action<Pipe> closing)
    {
        private const int IpProtoTcp = 6, TcpInfo = 11, BytesAckedOffset = 120; // <netinet/tcp.h>, struct tcp_info
        private int _closed;
        private long _acked;

        /// <summary>Bytes the module's side acknowledged on this connection (the last count while it was open).</summary>
        public long AckedByModule()
        {
            if (Volatile.Read(ref _closed) == 0 && OperatingSystem.IsLinux())
            {
                Span<byte> info = stackalloc byte[256];
                try
                {
                    if (client.GetRawSocketOption(IpProtoTcp, TcpInfo, info) >= BytesAckedOffset + 8)
                    {
                        Volatile.Write(ref _acked, (long)System.Runtime.InteropServices.MemoryMarshal.Read<ulong>(info[BytesAckedOffset..]));
                    }
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                }
            }

            return Volatile.Read(ref _acked);
        }

        /// <summary>Set (under the drop lock) when a drop was decided while this connection was open.</summary>
        public bool Doomed { get; set; }

        public CancellationTokenSource Cancel { get; } = new();

        public void Close(bool reset)
        {
            AckedByModule();
            if (Interlocked.Exchange(ref _closed, 1) == 1)
            {
                return;
            }

            closing(this);

            Cancel.Cancel();
            if (reset)
            {
                Reset(client);
                Reset(upstream);
            }
            else
            {
                client.Dispose();
                upstream.Dispose();
            }
        }
    }

    /// <summary>Serialises bytes at the link's rate: each chunk leaves when the one before it has left.</summary>
    private sealed class Pacer
    {
        private readonly Lock _gate = new();
        private TimeSpan _nextFree;

        public double? BitsPerSecond { get; set; }

        public async Task WaitAsync(int bytes, Stopwatch clock, CancellationToken cancellationToken)
        {
            if (BitsPerSecond is not { } rate || rate <= 0)
            {
                return;
            }

            TimeSpan done;
            lock (_gate)
            {
                var now = clock.Elapsed;
                var start = _nextFree > now ? _nextFree : now;
                done = start + TimeSpan.FromSeconds(bytes * 8 / rate);
                _nextFree = done;
            }

            var wait = done - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken);
            }
        }
    }
}
