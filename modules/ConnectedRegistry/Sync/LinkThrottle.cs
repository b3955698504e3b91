using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// One token bucket for every byte to and from the parent (<c>sync.bandwidth</c>): every connection of the parent
/// clients reads and writes through it (<see cref="ThrottledStream"/>), so parallel transfers share the cap instead
/// of each getting their own. The bucket holds at most a twentieth of a second of traffic (at least two chunks), so no
/// burst goes far above the cap. <see cref="SetLimit"/> applies at once to transfers already under way (a waiting
/// transfer looks again at least every <see cref="MaxWaitSlice"/>).
/// </summary>
public sealed class LinkThrottle
{
    /// <summary>The most a single read or write moves before it asks the bucket again.</summary>
    public const int ChunkBytes = 16 * 1024;

    private static readonly TimeSpan MaxWaitSlice = TimeSpan.FromMilliseconds(100);
    private readonly TimeProvider _time;
    private readonly RegistryMetrics? _metrics;
    private readonly Lock _gate = new();
    private double? _bytesPerSecond;
    private double _paid;     // bytes the clock has paid for since the start (at most _reserved + _capacity)
    private double _reserved; // bytes handed out, in the order they were asked for
    private double _capacity;
    private long _stamp;
    private long _lateGrowth; // receive buffer the rate rule has given the open connections, in bytes

    public LinkThrottle(TimeProvider time, RegistryMetrics? metrics = null)
    {
        _time = time;
        _metrics = metrics;
        _stamp = time.GetTimestamp();
    }

    /// <summary>The cap in bits per second; null when there is none.</summary>
    public double? LimitBitsPerSecond
    {
        get
        {
            lock (_gate)
            {
                return _bytesPerSecond * 8;
            }
        }
    }

    /// <summary>
    /// The receive buffer (<c>SO_RCVBUF</c>, which the kernel doubles) a connection starts with while capped: a
    /// hundredth of a second of the cap, from 4 KiB to 1 MiB (null without a cap: the kernel tunes it). Every byte the
    /// parent may send before the next paced read is in flight or in that buffer, so it is what can cross the link
    /// faster than the cap when the parent refills a window its reader just emptied: with 4 connections at 4 Mbit/s,
    /// an 8 KiB buffer (0.03 s of the cap) gave 1-second windows of up to 1.11 x, 4 KiB up to 1.07 x.
    /// A connection whose reads starve grows it (<see cref="MaxReceiveBufferBytes"/>).
    /// </summary>
    public int? StartReceiveBufferBytes => Window(0.01, 4 * 1024, 1024 * 1024);

    /// <summary>
    /// The most a capped connection's receive buffer grows to when its reads starve (a long round trip): half a second
    /// of the cap, from 64 KiB to 4 MiB, so the doubled buffer holds a satellite's round trip at the cap.
    /// </summary>
    public int? MaxReceiveBufferBytes => Window(0.5, 64 * 1024, 4 * 1024 * 1024);

    /// <summary>
    /// The receive buffer a capped connection is given before it connects: the window scale the kernel offers in the
    /// SYN is fixed by it, so it is twice <see cref="MaxReceiveBufferBytes"/>; the buffer is lowered right after.
    /// </summary>
    public int? ConnectReceiveBufferBytes => Window(1.0, 128 * 1024, 4 * 1024 * 1024);

    /// <summary>
    /// The most receive buffer the rate rule (<see cref="ThrottledStream"/>: late readers) gives all connections
    /// together, on top of what they started with: a tenth of a second of the cap (at least 16 KiB). Whatever the rule
    /// opens is what a parent late in its turn sends at once when it catches up (the test link in the same starved
    /// process as the module did: 1.37 x the cap in a second with half a second of the cap grown over 4 connections),
    /// so it is bounded for the link, not per connection.
    /// </summary>
    public int? LateGrowthBudgetBytes => Window(LateGrowth.Seconds, LateGrowth.Least, LateGrowth.Most);

    private static readonly (double Seconds, int Least, int Most) LateGrowth = (0.1, 16 * 1024, 4 * 1024 * 1024);

    /// <summary>Takes up to <paramref name="bytes"/> of <see cref="LateGrowthBudgetBytes"/>; returns what it took (0: none left, or no cap).</summary>
    public int TakeLateGrowth(int bytes)
    {
        lock (_gate)
        {
            if (_bytesPerSecond is not { } rate)
            {
                return 0;
            }

            var taken = (int)Math.Clamp(WindowOf(rate, LateGrowth.Seconds, LateGrowth.Least, LateGrowth.Most) - _lateGrowth, 0, bytes);
            _lateGrowth += taken;
            return taken;
        }
    }

    /// <summary>Gives back what <see cref="TakeLateGrowth"/> took (the connection closed, idled or was re-sized for a new cap).</summary>
    public void ReturnLateGrowth(int bytes)
    {
        lock (_gate)
        {
            _lateGrowth = Math.Max(0, _lateGrowth - bytes);
        }
    }

    private int? Window(double seconds, int least, int most)
    {
        lock (_gate)
        {
            return _bytesPerSecond is { } rate ? WindowOf(rate, seconds, least, most) : null;
        }
    }

    private static int WindowOf(double bytesPerSecond, double seconds, int least, int most) => (int)Math.Clamp(bytesPerSecond * seconds, least, most);

    /// <summary>
    /// The bytes the bucket has let through under a cap so far (every caller's, in the order they asked); with the cap,
    /// how close the link came to it over a span (<see cref="ThrottledStream"/>'s growth rule for late readers).
    /// </summary>
    public double Granted
    {
        get
        {
            lock (_gate)
            {
                Refill();
                return Math.Min(_paid, _reserved);
            }
        }
    }

    /// <summary>Sets the cap (bits per second; null or not positive: no cap). Transfers under way follow it at once.</summary>
    public void SetLimit(double? bitsPerSecond)
    {
        lock (_gate)
        {
            Refill();
            _bytesPerSecond = bitsPerSecond is > 0 and var b ? b / 8 : null;
            _capacity = _bytesPerSecond is { } rate ? Math.Max(rate / 50, ChunkBytes / 2.0) : 0;
            _paid = _bytesPerSecond is null ? _reserved : Math.Min(_paid, _reserved + _capacity); // no cap: no debt kept
        }
    }

    /// <summary>Counts bytes that crossed a connection to the parent (<c>connected_registry_sync_link_bytes_total</c>).</summary>
    public void Carried(bool sent, int bytes) => _metrics?.SyncLinkBytes(sent, bytes);

    /// <summary>
    /// Waits until <paramref name="bytes"/> (at most <see cref="ChunkBytes"/>) may cross the link. Callers are served
    /// in the order they asked: a transfer taking small pieces as they arrive does not starve one waiting for a
    /// whole chunk (it did: a reader paying for 4 KiB segments kept the bucket below 16 KiB, and the other
    /// connections' requests waited until that blob was done).
    /// </summary>
    public async ValueTask AcquireAsync(int bytes, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, ChunkBytes);
        double? turn = null;
        while (true)
        {
            TimeSpan wait;
            lock (_gate)
            {
                if (_bytesPerSecond is not { } rate)
                {
                    return;
                }

                Refill();
                turn ??= _reserved += bytes;
                if (_paid >= turn)
                {
                    return;
                }

                // At least a millisecond: Task.Delay truncates to whole milliseconds, and a wait of 0 for the last
                // fraction of a byte would spin.
                wait = TimeSpan.FromSeconds(Math.Max((turn.Value - _paid) / rate, 0.001));
            }

            await Task.Delay(wait < MaxWaitSlice ? wait : MaxWaitSlice, _time, cancellationToken);
        }
    }

    /// <summary>Waits until <paramref name="bytes"/> (any amount) may cross the link, a chunk at a time.</summary>
    public async ValueTask AcquireAsync(long bytes, CancellationToken cancellationToken)
    {
        for (var left = bytes; left > 0; left -= ChunkBytes)
        {
            await AcquireAsync((int)Math.Min(left, ChunkBytes), cancellationToken);
        }
    }

    private void Refill()
    {
        var now = _time.GetTimestamp();
        if (_bytesPerSecond is { } rate)
        {
            _paid = Math.Min(_reserved + _capacity, _paid + (_time.GetElapsedTime(_stamp, now).TotalSeconds * rate));
        }

        _stamp = now;
    }
}
