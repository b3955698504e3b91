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
    private double _tokens;
    private double _capacity;
    private long _stamp;

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
    /// The receive buffer a new connection gets while capped: an eighth of a second of the cap, from 32 KiB to 4 MiB
    /// (null without a cap: the kernel tunes it). The kernel doubles it; several connections in parallel fill a
    /// satellite's round trip at the cap.
    /// </summary>
    public int? ReceiveWindowBytes
    {
        get
        {
            lock (_gate)
            {
                return _bytesPerSecond is { } rate ? (int)Math.Clamp(rate / 8, 32 * 1024, 4 * 1024 * 1024) : null;
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
            _capacity = _bytesPerSecond is { } rate ? Math.Max(rate / 20, 2.0 * ChunkBytes) : 0;
            _tokens = Math.Min(_tokens, _capacity);
        }
    }

    /// <summary>Counts bytes that crossed a connection to the parent (<c>connected_registry_sync_link_bytes_total</c>).</summary>
    public void Carried(bool sent, int bytes) => _metrics?.SyncLinkBytes(sent, bytes);

    /// <summary>Waits until <paramref name="bytes"/> (at most <see cref="ChunkBytes"/>) may cross the link.</summary>
    public async ValueTask AcquireAsync(int bytes, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, ChunkBytes);
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
                if (_tokens >= bytes)
                {
                    _tokens -= bytes;
                    return;
                }

                wait = TimeSpan.FromSeconds((bytes - _tokens) / rate);
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
            _tokens = Math.Min(_capacity, _tokens + (_time.GetElapsedTime(_stamp, now).TotalSeconds * rate));
        }

        _stamp = now;
    }
}
