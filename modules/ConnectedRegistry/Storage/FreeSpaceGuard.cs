using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.Storage;

/// <summary>
/// The one rule for a full disk: the data volume must keep <see cref="StorageSettings.MinFreeBytes"/> free (twin
/// <c>storage.minFreeBytes</c>; default the smaller of 1 GiB and 5 % of the volume). Below it the Distribution API
/// refuses client writes at once (507 <c>INSUFFICIENT_STORAGE</c>) and sync down pauses; pulls, deletes and garbage
/// collection go on. Reads the volume's free space on every check (one <c>statvfs</c>), so everything resumes as soon
/// as space returns. While full it raises the status detail <see cref="DiskFullCode"/> with the free bytes and sends
/// the events <c>StorageFull</c> and <c>StorageRecovered</c> on the transitions.
/// <para>
/// A write does not only ask at its start: it reserves what it declares (<see cref="Reserve"/>: a request's
/// <c>Content-Length</c>, the rest of a blob being fetched), which is refused when the free bytes less every reservation
/// under way less this one would go below the minimum, and its stream is checked again chunk by chunk as the bytes
/// arrive (<see cref="SpaceReservation.Guard"/>; bytes past the declaration count on their own). A reservation shrinks
/// as its bytes land on the volume (then the free bytes count them) and is released when the write ends, done or not.
/// So three parallel uploads that each fit alone no longer take the volume below the minimum together.
/// </para>
/// </summary>
public sealed partial class FreeSpaceGuard
{
    [StatusDetailCode]
    public const string DiskFullCode = "DiskFull";
    public const long DefaultCapBytes = 1L << 30;

    private readonly string _root;
    private readonly IRegistrySettingsSource _settings;
    private readonly ModuleState _state;
    private readonly TimeProvider _time;
    private readonly ILogger<FreeSpaceGuard> _logger;
    private readonly IEventPublisher? _events;
    private readonly Lock _gate = new();
    private bool _full;
    private long _reserved;

    public FreeSpaceGuard(DataLayout layout, IRegistrySettingsSource settings, ModuleState state, TimeProvider time, ILogger<FreeSpaceGuard> logger, IEventPublisher? events = null)
    {
        _root = layout.Root;
        _settings = settings;
        _state = state;
        _time = time;
        _logger = logger;
        _events = events;
    }

    /// <summary>
    /// Raised (on the caller's thread: handlers must only signal) whenever a reading finds the volume below the eviction
    /// mark (<see cref="EvictionMark"/>): at the maintenance loop's status tick and at each write's check. The evictor of
    /// content fetched on demand listens.
    /// </summary>
    public event Action<SpaceCheck>? BelowEvictionMark;

    /// <summary>Bytes reserved by writes under way that have not reached the volume yet.</summary>
    public long ReservedBytes
    {
        get
        {
            lock (_gate)
            {
                return _reserved;
            }
        }
    }

    /// <summary>
    /// Reserves <paramref name="declaredBytes"/> for a write about to start (0 when it declares nothing: its chunks are
    /// checked as they come). Throws <see cref="InsufficientSpaceException"/> (naming <paramref name="refused"/>) when the
    /// volume is below the minimum, or would be once this write and those under way are done.
    /// </summary>
    public SpaceReservation Reserve(long declaredBytes, string refused)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(declaredBytes);
        var check = Check();
        if (check.FreeBytes < 0)
        {
            return new SpaceReservation(this, 0, refused); // unknown: do not refuse on a guess (ENOSPC is still a 507)
        }

        lock (_gate)
        {
            if (check.Full || check.FreeBytes - _reserved - declaredBytes < check.MinFreeBytes)
            {
                throw new InsufficientSpaceException(check with { ReservedBytes = _reserved }, refused);
            }

            _reserved += declaredBytes;
        }

        return new SpaceReservation(this, declaredBytes, refused);
    }

    /// <summary>Throws what <see cref="Reserve"/> would for a write of <paramref name="bytes"/>, reserving nothing.</summary>
    public void EnsureRoom(long bytes, string refused) => Reserve(bytes, refused).Dispose();

    /// <summary>
    /// Before <paramref name="bytes"/> more of <paramref name="reservation"/>'s write go to the volume: refused when the
    /// volume, less what is reserved and less the part of these bytes past the declaration, is below the minimum;
    /// else the reservation shrinks by the part it covered (the volume's free bytes will count it).
    /// </summary>
    internal void Consume(SpaceReservation reservation, long bytes)
    {
        var (free, min, _) = ReadVolume();
        if (free >= 0 && free < EvictionMark(min))
        {
            BelowEvictionMark?.Invoke(new SpaceCheck(free < min, free, min) { EvictBelowFreeBytes = EvictionMark(min) });
        }

        lock (_gate)
        {
            var covered = Math.Min(bytes, reservation.Remaining);
            if (free >= 0 && free - _reserved - (bytes - covered) < min)
            {
                throw new InsufficientSpaceException(new SpaceCheck(free < min, free, min) { ReservedBytes = _reserved }, reservation.Refused);
            }

            reservation.Remaining -= covered;
            _reserved -= covered;
        }
    }

    /// <summary>Gives back what <paramref name="reservation"/> holds still (its write ended, done or not).</summary>
    internal void Release(SpaceReservation reservation)
    {
        lock (_gate)
        {
            _reserved -= reservation.Remaining;
            reservation.Remaining = 0;
        }
    }

    /// <summary>The volume's free and total bytes and the minimum in force; free -1 when the volume cannot be read.</summary>
    private (long Free, long Min, long Total) ReadVolume()
    {
        try
        {
            var drive = new DriveInfo(_root);
            var total = drive.TotalSize;
            return (drive.AvailableFreeSpace, _settings.Current.Storage.MinFreeBytes ?? DefaultMinFreeBytes(total), total);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return (-1, 0, 0);
        }
    }

    /// <summary>The default minimum for a volume of <paramref name="totalBytes"/>: the smaller of 1 GiB and 5 %.</summary>
    public static long DefaultMinFreeBytes(long totalBytes) => Math.Min(DefaultCapBytes, totalBytes / 20);

    /// <summary>
    /// The free bytes below which content fetched on demand is evicted (twin <c>storage.evictBelowFreeBytes</c>), given
    /// the minimum in force: by default <see cref="StorageSettings.DefaultEvictionFactor"/> times it; never below it.
    /// </summary>
    public long EvictionMark(long minFreeBytes)
    {
        var configured = _settings.Current.Storage.EvictBelowFreeBytes;
        var mark = configured ?? (minFreeBytes > long.MaxValue / StorageSettings.DefaultEvictionFactor ? long.MaxValue : minFreeBytes * StorageSettings.DefaultEvictionFactor);
        return Math.Max(mark, minFreeBytes);
    }

    /// <summary>Reads the volume now, updates the status detail on a change, and answers whether writes must stop.</summary>
    public SpaceCheck Check()
    {
        var (free, min, total) = ReadVolume();
        if (free < 0)
        {
            return new SpaceCheck(false, -1, 0); // unknown: do not refuse on a guess; a real ENOSPC is still a 507
        }

        var check = new SpaceCheck(free < min, free, min) { EvictBelowFreeBytes = EvictionMark(min) };
        if (free < check.EvictBelowFreeBytes)
        {
            BelowEvictionMark?.Invoke(check);
        }

        bool changed;
        lock (_gate)
        {
            changed = _full != check.Full;
            _full = check.Full;
            if (check.Full)
            {
                // Refreshed while full, so the reported free bytes stay current (the reporter batches the changes).
                _state.SetStatusDetail(new StatusDetail(DiskFullCode, "Error", check.Describe(), _time.GetUtcNow()));
            }
            else if (changed)
            {
                _state.ClearStatusDetail(DiskFullCode);
            }
        }

        if (changed && check.Full)
        {
            Log.Full(_logger, free, min);
            _events?.Publish(new RegistryEvent(EventTypes.StorageFull, _time.GetUtcNow())
            {
                Message = check.Describe(),
                Data = new Dictionary<string, object?> { ["freeBytes"] = free, ["minFreeBytes"] = min, ["totalBytes"] = total },
            });
        }
        else if (changed)
        {
            Log.Recovered(_logger, free, min);
            _events?.Publish(new RegistryEvent(EventTypes.StorageRecovered, _time.GetUtcNow())
            {
                Message = "free space is back above storage.minFreeBytes: client writes and sync down resume",
                Data = new Dictionary<string, object?> { ["freeBytes"] = free, ["minFreeBytes"] = min, ["totalBytes"] = total },
            });
        }

        return check;
    }

    /// <summary>Whether a failed write failed because the volume is full (ENOSPC, a quota, SQLite's SQLITE_FULL).</summary>
    public static bool IsOutOfSpace(Exception ex) => ex switch
    {
        // ENOSPC (28) and EDQUOT (122) on Linux; ERROR_HANDLE_DISK_FULL / ERROR_DISK_FULL on Windows.
        InsufficientSpaceException => true,
        IOException io => io.HResult is 28 or 122 or unchecked((int)0x80070027) or unchecked((int)0x80070070) || (io.InnerException is { } inner && IsOutOfSpace(inner)),
        SqliteException sqlite => sqlite.SqliteErrorCode == 13,
        _ => ex.InnerException is { } cause && IsOutOfSpace(cause),
    };

    private static partial class Log
    {
        [LoggerMessage(EventId = 2010, Level = LogLevel.Error, Message = "Data volume full: {Free} bytes free, below storage.minFreeBytes {Min}; client writes are refused and sync down pauses")]
        public static partial void Full(ILogger logger, long free, long min);

        [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "Data volume has space again: {Free} bytes free (minimum {Min}); writes resume")]
        public static partial void Recovered(ILogger logger, long free, long min);
    }
}

/// <summary>One reading of the data volume: whether it is below the minimum, its free bytes and the minimum.</summary>
public sealed record SpaceCheck(bool Full, long FreeBytes, long MinFreeBytes)
{
    /// <summary>Bytes reserved by writes under way when a write was refused (0 in a plain reading).</summary>
    public long ReservedBytes { get; init; }

    /// <summary>The eviction mark in force at this reading (<see cref="FreeSpaceGuard.EvictionMark"/>; 0 when unknown).</summary>
    public long EvictBelowFreeBytes { get; init; }

    /// <summary>True when the volume is below the eviction mark: content fetched on demand is to be evicted.</summary>
    public bool BelowEvictionMark => FreeBytes >= 0 && FreeBytes < EvictBelowFreeBytes;

    public string Describe() => Full
        ? $"the data volume has {FreeBytes} bytes free, below storage.minFreeBytes ({MinFreeBytes}): pushes are refused and sync down is paused until space is freed (delete images, then garbage collection)"
        : $"the data volume has {FreeBytes} bytes free, {ReservedBytes} of them reserved by writes under way: this write would take it below storage.minFreeBytes ({MinFreeBytes})";

    /// <summary>
    /// A client's request this full volume refuses (a push, an on-demand fetch): <c>INSUFFICIENT_STORAGE</c> (507) with
    /// the free bytes and the minimum, built here for every one; <paramref name="refused"/> says what waits for space.
    /// </summary>
    public OciException Refusal(string refused) =>
        new(OciErrorCode.InsufficientStorage, $"the registry's storage is full: {refused}", new { freeBytes = FreeBytes, minFreeBytes = MinFreeBytes, reservedBytes = ReservedBytes });
}

/// <summary>
/// A write <see cref="FreeSpaceGuard"/> refused, at its start or at a chunk: the write path removes what it wrote of it
/// (<see cref="FreeSpaceGuard.IsOutOfSpace"/> is true), the Distribution API answers <see cref="SpaceCheck.Refusal"/>.
/// </summary>
public sealed class InsufficientSpaceException(SpaceCheck check, string refused) : Exception("the data volume has no room for this write: " + check.Describe())
{
    public SpaceCheck Check { get; } = check;

    /// <summary>The 507 a client gets for it.</summary>
    public OciException Refusal() => Check.Refusal(refused);
}

/// <summary>
/// Space a write under way holds on the data volume (<see cref="FreeSpaceGuard.Reserve"/>): what it declared and has
/// not written yet. Wrap its source in <see cref="Guard"/> so each chunk is checked; dispose it when the write ends.
/// </summary>
public sealed class SpaceReservation : IDisposable
{
    private readonly FreeSpaceGuard _guard;

    internal SpaceReservation(FreeSpaceGuard guard, long declared, string refused)
    {
        _guard = guard;
        Remaining = declared;
        Refused = refused;
    }

    /// <summary>Bytes still reserved (declared, not written yet).</summary>
    public long Remaining { get; internal set; }

    internal string Refused { get; }

    /// <summary><paramref name="source"/>, read through the guard: each chunk read is checked before it is handed on.</summary>
    public Stream Guard(Stream source) => new GuardedStream(source, this, _guard);

    public void Dispose() => _guard.Release(this);

    private sealed class GuardedStream(Stream inner, SpaceReservation reservation, FreeSpaceGuard guard) : ReadOnlyStream
    {
        private long _read;

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Checked(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Checked(await inner.ReadAsync(buffer, cancellationToken));

        private int Checked(int n)
        {
            if (n > 0)
            {
                guard.Consume(reservation, n);
                _read += n;
            }

            return n;
        }
    }
}
