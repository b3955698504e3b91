using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ConnectedRegistry.Sync;

/// <summary>
/// A connection to the parent whose reads and writes pass the shared <see cref="LinkThrottle"/>, in chunks of at
/// most <see cref="LinkThrottle.ChunkBytes"/>: nothing is buffered, the bytes wait for their turn. Sits below TLS
/// and HTTP (the parent transport's connect callback), so headers, bodies both ways and TLS records all count.
/// </summary>
/// <remarks>
/// Under a cap the parent's TCP has to see the cap: what it may send is what the module's receive window lets it
/// (the bytes read plus the free receive buffer), so a read is paid for before it is taken from the socket (taking it
/// opens the window again) and the buffer is kept small: a hundredth of a second of the cap
/// (<see cref="LinkThrottle.StartReceiveBufferBytes"/>). A read that finds the socket empty and waits for the parent
/// with no request written since the last read is a window too small for the round trip: the buffer grows by half
/// (the growth paid like a read, up to <see cref="LinkThrottle.MaxReceiveBufferBytes"/>). A window left open while
/// the connection idled was paid for long ago: the next request pays for it again before it goes. A reader that is
/// itself late (a busy CPU wakes it, and the parent's side, tens of milliseconds late) finds data waiting, so that
/// rule never sees it, yet each wake-up moves no more than the window: a connection that has read one response for
/// <see cref="RateSpan"/> while the whole link carried less than <see cref="RateShortfall"/> of the cap (the bucket had
/// tokens no one took) grows its buffer the same way. A connection
/// opened before the cap gets the small buffer and pays for its open window at its first read under the cap; one
/// that outlives the cap gets a large buffer back.
/// </remarks>
public sealed class ThrottledStream : Stream
{
    private const int IpProtoTcp = 6, TcpWindowClamp = 10, TcpInfo = 11, TcpInfoRcvWndOffset = 232; // <netinet/tcp.h>, struct tcp_info

    /// <summary>The largest segment a capped connection asks the parent for (<c>TCP_MAXSEG</c> before connect).</summary>
    public const int SegmentBytes = 4096;

    /// <summary>A wait for the parent shorter than this is the machine, not the round trip.</summary>
    private static readonly TimeSpan StarvedAfter = TimeSpan.FromMilliseconds(20);

    /// <summary>A wait longer than this is the parent's own pause, not a window too small.</summary>
    private static readonly TimeSpan StarvedAtMost = TimeSpan.FromSeconds(1.5);

    /// <summary>A window left open longer than this was paid for too long ago to arrive now on top of the cap.</summary>
    private static readonly TimeSpan IdleRepay = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a connection reads one response before the link's rate over that span is judged.</summary>
    private static readonly TimeSpan RateSpan = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// The share of the cap below which the link ran short over <see cref="RateSpan"/> while this connection was reading:
    /// the bucket had tokens no reader took, so the readers (or the parent's side) woke later than the window lasts.
    /// </summary>
    private const double RateShortfall = 0.9;

    private readonly Stream _inner;
    private readonly Socket? _socket;
    private readonly LinkThrottle _throttle;
    private readonly SemaphoreSlim _tuning = new(1, 1);
    private double? _tunedFor; // the cap (bits/s) the receive buffer is sized for; null: the kernel's (uncapped)
    private int _buffer;
    private long _lastPaid;
    private bool _wroteSinceRead;
    private bool _retired;
    private int _lateGrowth; // of _buffer, what the rate rule took from the link's budget (LinkThrottle.TakeLateGrowth)
    private long _spanStarted; // when this connection's current span of reading one response started (0: none)
    private double _spanGranted; // the bucket's Granted then

    /// <summary>A connection: <paramref name="socket"/> (null: the stream is only paced, its receive window not tuned).</summary>
    public ThrottledStream(Stream inner, LinkThrottle throttle, Socket? socket = null)
    {
        _inner = inner;
        _throttle = throttle;
        _socket = socket;
        _lastPaid = Stopwatch.GetTimestamp();
    }

    public override bool CanRead => _inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => _inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <summary>The receive buffer set under the cap (what <c>SO_RCVBUF</c> was given; 0: not tuned).</summary>
    public int ReceiveBufferBytes => _buffer;

    /// <summary>
    /// Right after connect: under a cap, lowers the receive buffer to the starting size and pays for the window the
    /// SYN already offered (the parent may send it before the first read).
    /// </summary>
    public ValueTask StartAsync(CancellationToken cancellationToken) => TuneAsync(cancellationToken);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_throttle.LimitBitsPerSecond is null || _socket is null)
        {
            if (_tunedFor is not null)
            {
                await TuneAsync(cancellationToken); // the cap is gone: the connection gets a large buffer back
            }

            // Uncapped, a read takes what the socket has (up to the caller's buffer): 16 KiB reads would cost a blob
            // download four times the system calls, hashing calls and reader wake-ups at every level of a chain.
            var most = _throttle.LimitBitsPerSecond is null ? buffer.Length : Math.Min(buffer.Length, LinkThrottle.ChunkBytes);
            var got = await _inner.ReadAsync(buffer[..most], cancellationToken);
            if (got > 0)
            {
                _throttle.Carried(sent: false, got);
                await _throttle.AcquireAsync((long)got, cancellationToken);
                _lastPaid = Stopwatch.GetTimestamp();
                _wroteSinceRead = false;
            }

            return got;
        }

        if (_retired || (!_wroteSinceRead && Stopwatch.GetElapsedTime(_lastPaid) > IdleRepay && Retire()))
        {
            // Idle in the pool (a transfer under way is not cut: it pays for its window instead): the pool's check
            // before reuse sees the connection closed and opens a new one, under the cap.
            return 0;
        }

        await TuneAsync(cancellationToken);
        var answers = _wroteSinceRead; // the first read of a response: a new span for the rate rule
        var available = await WaitForDataAsync(cancellationToken);
        if (buffer.Length == 0)
        {
            return 0; // a zero-byte read (the layers above wait for data so): the data stays in the socket
        }

        // Paid before it is taken: taking it opens the window for as many new bytes.
        var take = Math.Min(buffer.Length, Math.Min(LinkThrottle.ChunkBytes, Math.Max(available, 1)));
        if (available > 0)
        {
            await _throttle.AcquireAsync(take, cancellationToken);
        }

        var read = await _inner.ReadAsync(buffer[..take], cancellationToken);
        if (read > 0)
        {
            _throttle.Carried(sent: false, read);
            if (available == 0)
            {
                await _throttle.AcquireAsync((long)read, cancellationToken); // arrived after the socket looked empty
            }

            await JudgeRateAsync(restart: answers, cancellationToken);
        }

        _lastPaid = Stopwatch.GetTimestamp();
        _wroteSinceRead = false;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (Retire())
        {
            throw new IOException("the connection was opened before the bandwidth cap and offers the parent a larger window than the cap allows");
        }

        await TuneAsync(cancellationToken); // a connection from before the cap pays for its window before its request goes
        if (_tunedFor is not null && !_wroteSinceRead && _throttle.LimitBitsPerSecond is not null &&
            Stopwatch.GetElapsedTime(_lastPaid) > IdleRepay)
        {
            // A request after the connection idled: the window it left open was paid for long ago and arrives at
            // the link's speed with this request's answer. What the rate rule gave it goes back to the link (another
            // connection may be the one reading late now).
            ReturnLateGrowth(shrink: true);
            await _throttle.AcquireAsync((long)OpenWindow(), cancellationToken);
            _lastPaid = Stopwatch.GetTimestamp();
        }

        _wroteSinceRead = true;
        while (buffer.Length > 0)
        {
            var chunk = buffer[..Math.Min(buffer.Length, LinkThrottle.ChunkBytes)];
            await _throttle.AcquireAsync(chunk.Length, cancellationToken);
            await _inner.WriteAsync(chunk, cancellationToken);
            _throttle.Carried(sent: true, chunk.Length);
            buffer = buffer[chunk.Length..];
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override void Flush() => _inner.Flush();

    // The HTTP stack uses the asynchronous members; the synchronous ones wait on them so they are throttled too.
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            ReturnLateGrowth(shrink: false);
            _inner.Dispose();
            _tuning.Dispose();
        }

        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        ReturnLateGrowth(shrink: false);
        _tuning.Dispose();
        return _inner.DisposeAsync();
    }

    /// <summary>
    /// The bytes waiting in the socket, after waiting for some when there were none (0: the connection ended or the
    /// wait was a zero-byte read's). A wait with no request written since the last read is the parent waiting for
    /// the window to open: the round trip needs a larger one.
    /// </summary>
    private async ValueTask<int> WaitForDataAsync(CancellationToken cancellationToken)
    {
        var available = _socket!.Available;
        if (available > 0)
        {
            return available;
        }

        var wroteBefore = _wroteSinceRead;
        var started = Stopwatch.GetTimestamp();
        _ = await _inner.ReadAsync(Memory<byte>.Empty, cancellationToken); // returns when data (or the end) is there
        var waited = Stopwatch.GetElapsedTime(started);
        available = _socket.Available;
        if (available > 0 && !wroteBefore && !_wroteSinceRead && waited >= StarvedAfter && waited <= StarvedAtMost)
        {
            await GrowAsync(cancellationToken);
        }
        else if (waited > StarvedAtMost)
        {
            _spanStarted = 0; // the parent's own pause: not a shortfall of the window
        }

        return available;
    }

    /// <summary>
    /// Closes a connection opened before the cap whose open receive window is more than the cap gives a connection
    /// (the kernel's tuning grows it to megabytes): paid for before its next request, that window still arrives in
    /// one burst, seconds of the cap at once. A new connection costs a round trip and its SYN's 64 KiB.
    /// </summary>
    private bool Retire()
    {
        if (_socket is null || _tunedFor is not null || _retired || _throttle.StartReceiveBufferBytes is not { } start)
        {
            return _retired;
        }

        if (OpenWindow() <= 8 * start)
        {
            return false; // small enough to pay for (TuneAsync)
        }

        _retired = true;
        _inner.Dispose();
        return true;
    }

    /// <summary>Sizes the receive buffer for the cap in force (paying for what the change lets through at once).</summary>
    private async ValueTask TuneAsync(CancellationToken cancellationToken)
    {
        var cap = _throttle.LimitBitsPerSecond;
        if (_socket is null || cap == _tunedFor)
        {
            return;
        }

        await _tuning.WaitAsync(cancellationToken);
        try
        {
            cap = _throttle.LimitBitsPerSecond;
            if (cap == _tunedFor)
            {
                return;
            }

            if (cap is null)
            {
                // Uncapped again: the buffer stays fixed (the kernel's tuning cannot be given back), but large.
                ReturnLateGrowth(shrink: false);
                SetBuffer(4 * 1024 * 1024);
                _buffer = 0;
                _tunedFor = null;
                return;
            }

            var wasUncapped = _tunedFor is null;
            ReturnLateGrowth(shrink: false);
            _buffer = _throttle.StartReceiveBufferBytes ?? _buffer;
            SetBuffer(_buffer);
            _tunedFor = cap;
            _spanStarted = 0; // a span under another cap is not judged against this one
            if (wasUncapped)
            {
                // The window offered so far (a new connection's SYN, or the kernel's tuning before the cap) can
                // arrive before the first paced read: it is paid for now.
                await _throttle.AcquireAsync((long)OpenWindow(), cancellationToken);
                _lastPaid = Stopwatch.GetTimestamp();
            }
        }
        finally
        {
            _tuning.Release();
        }
    }

    /// <summary>
    /// The rate rule, after each read of a response: once this connection has read for <see cref="RateSpan"/>, a link
    /// that carried less than <see cref="RateShortfall"/> of the cap over that span grows this connection's buffer. A
    /// connection waiting its turn at the bucket never triggers it (the link is at the cap then), and on a quiet machine
    /// the readers keep up and nothing grows.
    /// </summary>
    private async ValueTask JudgeRateAsync(bool restart, CancellationToken cancellationToken)
    {
        var now = Stopwatch.GetTimestamp();
        var granted = _throttle.Granted;
        if (restart || _spanStarted == 0)
        {
            (_spanStarted, _spanGranted) = (now, granted);
            return;
        }

        var span = Stopwatch.GetElapsedTime(_spanStarted, now);
        if (span < RateSpan)
        {
            return;
        }

        var carried = granted - _spanGranted;
        (_spanStarted, _spanGranted) = (now, granted);
        if (_throttle.LimitBitsPerSecond is { } cap && carried * 8 / span.TotalSeconds < RateShortfall * cap)
        {
            await GrowAsync(cancellationToken, late: true);
        }
    }

    /// <summary>
    /// Grows the receive buffer by half (at least half a chunk), up to <see cref="LinkThrottle.MaxReceiveBufferBytes"/>;
    /// for the rate rule (<paramref name="late"/>) only as far as the link's <see cref="LinkThrottle.LateGrowthBudgetBytes"/> lets it.
    /// </summary>
    private async ValueTask GrowAsync(CancellationToken cancellationToken, bool late = false)
    {
        var most = _throttle.MaxReceiveBufferBytes ?? 0;
        if (_buffer >= most)
        {
            return;
        }

        var more = Math.Min(most, _buffer + Math.Max(_buffer / 2, LinkThrottle.ChunkBytes / 2)) - _buffer;
        if (late)
        {
            more = _throttle.TakeLateGrowth(more);
            _lateGrowth += more;
            if (more == 0)
            {
                return;
            }
        }

        var grown = _buffer + more;
        _buffer = grown;
        SetBuffer(grown);
        await _throttle.AcquireAsync(2L * more, cancellationToken); // the kernel doubles it: that much more may come at once
    }

    /// <summary>
    /// Gives the rate rule's growth back to the link's budget; with <paramref name="shrink"/> the buffer drops by as
    /// much (a connection idle in the pool, about to send a request: nothing of its window is in flight).
    /// </summary>
    private void ReturnLateGrowth(bool shrink)
    {
        if (_lateGrowth == 0)
        {
            return;
        }

        _throttle.ReturnLateGrowth(_lateGrowth);
        if (shrink)
        {
            _buffer -= _lateGrowth;
            SetBuffer(_buffer);
        }

        _lateGrowth = 0;
    }

    /// <summary>
    /// Sets the receive buffer. Lowering it lowers the kernel's window clamp with it, and raising it does not raise
    /// the clamp again (the window stayed at the small buffer's 15 KB with the buffer at 500 KB): the clamp is
    /// raised to the doubled buffer, which bounds the window anyway.
    /// </summary>
    private void SetBuffer(int bytes)
    {
        _socket!.ReceiveBufferSize = bytes;
        if (OperatingSystem.IsLinux())
        {
            try
            {
                _socket.SetRawSocketOption(IpProtoTcp, TcpWindowClamp, BitConverter.GetBytes(2 * bytes));
            }
            catch (SocketException)
            {
            }
        }
    }

    /// <summary>The receive window the socket offers the parent now (Linux <c>tcpi_rcv_wnd</c>; elsewhere the buffer).</summary>
    private int OpenWindow()
    {
        if (OperatingSystem.IsLinux())
        {
            Span<byte> info = stackalloc byte[256];
            try
            {
                var length = _socket!.GetRawSocketOption(IpProtoTcp, TcpInfo, info);
                if (length >= TcpInfoRcvWndOffset + 4)
                {
                    return (int)Math.Min(int.MaxValue, MemoryMarshal.Read<uint>(info[TcpInfoRcvWndOffset..]));
                }
            }
            catch (SocketException)
            {
            }
        }

        return _socket!.ReceiveBufferSize;
    }
}
