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
/// <para>
/// Eviction of content fetched on demand (an <see cref="ISpaceMaker"/>, registered as <see cref="SpaceMaker"/>) runs
/// ahead of the writes: its target is the mark plus what writes under way have reserved and what sync has announced it
/// is about to download (<see cref="AnnounceAsync"/>: a manifest's blobs, once it is read, before they are fetched), so
/// it evicts while <c>free - pending &lt; mark</c>, not only once the bytes arrived. A write that declares its bytes and
/// can wait (<see cref="ReserveAsync"/>, <see cref="AnnounceAsync"/>, a chunk read asynchronously) and would take the
/// volume below the mark, or is refused below the minimum, asks for an eviction run and waits for it, at most
/// <see cref="StorageOptions.EvictionWait"/> and only when something may be evicted; then the minimum is checked
/// as before. With nothing evictable a write below the minimum is refused at once.
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
    private readonly TimeSpan _evictionWait;
    private readonly Lock _gate = new();
    private readonly List<SpaceAnnouncement> _announcements = [];
    private bool _full;
    private long _reserved;
    private long _announced;

    public FreeSpaceGuard(DataLayout layout, IRegistrySettingsSource settings, ModuleState state, TimeProvider time, ILogger<FreeSpaceGuard> logger, IEventPublisher? events = null, StorageOptions? options = null)
    {
        _evictionWait = (options ?? new StorageOptions()).EvictionWait;
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

    /// <summary>
    /// What frees space when a write needs it (the evictor of content fetched on demand registers itself; Storage does
    /// not know Sync). Null: nothing to free, a write below the minimum is refused at once.
    /// </summary>
    public ISpaceMaker? SpaceMaker { get; set; }

    /// <summary>Bytes announced by sync passes and on-demand fetches for downloads not started yet (<see cref="AnnounceAsync"/>).</summary>
    public long AnnouncedBytes
    {
        get
        {
            lock (_gate)
            {
                return _announced;
            }
        }
    }

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
    /// <param name="blob">The blob this write stores, when it is one: an announcement of it (<see cref="AnnounceAsync"/>) is
    /// taken over by the reservation, so its bytes are counted once.</param>
    public SpaceReservation Reserve(long declaredBytes, string refused, Digest? blob = null)
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
            if (blob is { } digest)
            {
                foreach (var announcement in _announcements)
                {
                    _announced -= announcement.Take(digest);
                }
            }
        }

        return new SpaceReservation(this, declaredBytes, refused);
    }

    /// <summary>
    /// <see cref="Reserve"/> for a caller that can wait: when this write, with every write under way, would take the
    /// volume below the eviction mark (or below the minimum) and something may be evicted, it asks for an eviction run
    /// and waits for it (at most <see cref="StorageOptions.EvictionWait"/>, its bytes counted in the run's target), then
    /// reserves, refused as <see cref="Reserve"/> is. With nothing evictable it is <see cref="Reserve"/>, at once.
    /// </summary>
    public async Task<SpaceReservation> ReserveAsync(long declaredBytes, string refused, CancellationToken cancellationToken, Digest? blob = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(declaredBytes);
        if (SpaceMaker is { CanFree: true })
        {
            using var ahead = blob is { } digest && IsAnnounced(digest) ? null : Announce([(blob, declaredBytes)]);
            await MakeRoomAsync(cancellationToken);
            return Reserve(declaredBytes, refused, blob);
        }

        return Reserve(declaredBytes, refused, blob);
    }

    /// <summary>Throws what <see cref="ReserveAsync"/> would for a write of <paramref name="bytes"/>, reserving nothing.</summary>
    public async Task EnsureRoomAsync(long bytes, string refused, CancellationToken cancellationToken) =>
        (await ReserveAsync(bytes, refused, cancellationToken)).Dispose();

    /// <summary>
    /// <see cref="Check"/> for a caller that can wait: a volume below the minimum, when something may be evicted, first
    /// gets an eviction run (waited for at most <see cref="StorageOptions.EvictionWait"/>) and is read again.
    /// </summary>
    public async Task<SpaceCheck> CheckAsync(CancellationToken cancellationToken)
    {
        var check = Check();
        if (check.Full && SpaceMaker is { CanFree: true })
        {
            await MakeRoomAsync(cancellationToken);
            check = Check();
        }

        return check;
    }

    /// <summary>
    /// Announces <paramref name="blobs"/> (digest and bytes still to come) as about to be written, before their downloads
    /// start: eviction's target counts them from now on, and when they take the volume below the mark and something may
    /// be evicted, this waits for an eviction run (at most <see cref="StorageOptions.EvictionWait"/>). Nothing is refused
    /// here (the writes' own reservations are). Each blob's bytes leave the announcement when its write reserves them
    /// (<see cref="Reserve"/> with the digest); dispose the announcement when the work ends, done, failed or cancelled.
    /// </summary>
    public async Task<SpaceAnnouncement> AnnounceAsync(IEnumerable<(Digest Blob, long Bytes)> blobs, CancellationToken cancellationToken)
    {
        var announcement = Announce(blobs.Select(b => ((Digest?)b.Blob, b.Bytes)));
        try
        {
            if (announcement.Bytes > 0)
            {
                await MakeRoomAsync(cancellationToken);
            }

            return announcement;
        }
        catch
        {
            announcement.Dispose();
            throw;
        }
    }

    private SpaceAnnouncement Announce(IEnumerable<(Digest? Blob, long Bytes)> blobs)
    {
        var announcement = new SpaceAnnouncement(this, [.. blobs.Where(b => b.Bytes > 0)]);
        if (announcement.Bytes > 0)
        {
            lock (_gate)
            {
                _announcements.Add(announcement);
                _announced += announcement.Bytes;
            }
        }

        return announcement;
    }

    private bool IsAnnounced(Digest blob)
    {
        lock (_gate)
        {
            return _announcements.Exists(a => a.Holds(blob));
        }
    }

    /// <summary>Gives back what <paramref name="announcement"/> still announces (its work ended, done or not).</summary>
    internal void Withdraw(SpaceAnnouncement announcement)
    {
        lock (_gate)
        {
            if (_announcements.Remove(announcement))
            {
                _announced -= announcement.Bytes;
            }

            announcement.Clear();
        }
    }

    /// <summary>
    /// When the volume, less every reservation and announcement under way, is below the eviction mark and something may
    /// be evicted: asks for an eviction run and waits for it to end, at most <see cref="StorageOptions.EvictionWait"/>
    /// (real time: a bound on a client's or a pass's wait). The caller holds no lock eviction takes.
    /// </summary>
    private async Task MakeRoomAsync(CancellationToken cancellationToken)
    {
        if (SpaceMaker is not { CanFree: true } maker || !Check().BelowEvictionMark)
        {
            return;
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            await maker.FreeAsync().WaitAsync(_evictionWait, cancellationToken);
        }
        catch (TimeoutException)
        {
            Log.EvictionWaitOver(_logger, _evictionWait.TotalSeconds);
        }

        WaitedForEviction?.Invoke(System.Diagnostics.Stopwatch.GetElapsedTime(started));
    }

    /// <summary>Raised after a write waited for an eviction run, with how long (tests and diagnostics).</summary>
    public event Action<TimeSpan>? WaitedForEviction;

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
        var pending = PendingBytes;
        if (free >= 0 && free - pending < EvictionMark(min))
        {
            BelowEvictionMark?.Invoke(new SpaceCheck(free < min, free, min) { EvictBelowFreeBytes = EvictionMark(min), PendingBytes = pending });
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

    /// <summary>
    /// <see cref="Consume"/> for a chunk read asynchronously: a chunk refused below the minimum first waits for an
    /// eviction run when something may be evicted (<see cref="MakeRoomAsync"/>), then is checked again.
    /// </summary>
    internal async ValueTask ConsumeAsync(SpaceReservation reservation, long bytes, CancellationToken cancellationToken)
    {
        try
        {
            Consume(reservation, bytes);
        }
        catch (InsufficientSpaceException) when (SpaceMaker is { CanFree: true })
        {
            await MakeRoomAsync(cancellationToken);
            Consume(reservation, bytes);
        }
    }

    /// <summary>Bytes reserved or announced by writes under way: what eviction frees room for ahead of them.</summary>
    private long PendingBytes
    {
        get
        {
            lock (_gate)
            {
                return _reserved + _announced;
            }
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

        var check = new SpaceCheck(free < min, free, min) { EvictBelowFreeBytes = EvictionMark(min), PendingBytes = PendingBytes };
        if (check.BelowEvictionMark)
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

        [LoggerMessage(EventId = 2012, Level = LogLevel.Warning, Message = "A write waited {Seconds} s for an eviction of content fetched on demand and goes on without it; the free space is checked again")]
        public static partial void EvictionWaitOver(ILogger logger, double seconds);

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

    /// <summary>
    /// Bytes reserved by writes under way and announced by sync for downloads about to start, at this reading: eviction
    /// frees room for them ahead of their arrival.
    /// </summary>
    public long PendingBytes { get; init; }

    /// <summary>
    /// True when the volume, less what writes under way reserved or announced, is below the eviction mark: content
    /// fetched on demand is to be evicted (ahead of those writes).
    /// </summary>
    public bool BelowEvictionMark => FreeBytes >= 0 && FreeBytes - PendingBytes < EvictBelowFreeBytes;

    /// <summary>The bytes eviction is to free to bring the volume, less what is pending, back to the mark (0 or less: none).</summary>
    public long BytesWanted => EvictBelowFreeBytes - (FreeBytes - PendingBytes);

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

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            if (n > 0)
            {
                await guard.ConsumeAsync(reservation, n, cancellationToken); // a chunk refused below the minimum waits for eviction first
                _read += n;
            }

            return n;
        }

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

/// <summary>
/// Frees space on the data volume when a write needs it (<see cref="FreeSpaceGuard.SpaceMaker"/>): the evictor of
/// content fetched on demand. Storage calls it; Sync implements and registers it.
/// </summary>
public interface ISpaceMaker
{
    /// <summary>Whether anything may be freed now (content fetched on demand is here, and the last run did not find nothing evictable).</summary>
    bool CanFree { get; }

    /// <summary>
    /// A run that frees space down to the guard's target (the mark plus what is pending), joined when one is asked for
    /// already; completes when it ended, never faults (a failed run is logged). The caller bounds its own wait.
    /// </summary>
    Task FreeAsync();
}

/// <summary>
/// Bytes a sync pass or an on-demand fetch announced it is about to download (<see cref="FreeSpaceGuard.AnnounceAsync"/>),
/// by blob: counted in eviction's target until the blob's write reserves them or this is disposed.
/// </summary>
public sealed class SpaceAnnouncement : IDisposable
{
    private readonly FreeSpaceGuard _guard;
    private readonly List<(Digest? Blob, long Bytes)> _blobs;

    internal SpaceAnnouncement(FreeSpaceGuard guard, List<(Digest? Blob, long Bytes)> blobs)
    {
        _guard = guard;
        _blobs = blobs;
        Bytes = blobs.Sum(b => b.Bytes);
    }

    /// <summary>Bytes still announced (not reserved by their writes yet).</summary>
    public long Bytes { get; private set; }

    public void Dispose() => _guard.Withdraw(this);

    internal bool Holds(Digest blob) => _blobs.Exists(b => b.Blob == blob);

    /// <summary>The blob's write reserved its bytes: they leave the announcement. The bytes taken (0 when not announced here).</summary>
    internal long Take(Digest blob)
    {
        var i = _blobs.FindIndex(b => b.Blob == blob);
        if (i < 0)
        {
            return 0;
        }

        var bytes = _blobs[i].Bytes;
        _blobs.RemoveAt(i);
        Bytes -= bytes;
        return bytes;
    }

    internal void Clear()
    {
        _blobs.Clear();
        Bytes = 0;
    }
}
