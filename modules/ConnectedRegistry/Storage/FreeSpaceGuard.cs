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

    public FreeSpaceGuard(DataLayout layout, IRegistrySettingsSource settings, ModuleState state, TimeProvider time, ILogger<FreeSpaceGuard> logger, IEventPublisher? events = null)
    {
        _root = layout.Root;
        _settings = settings;
        _state = state;
        _time = time;
        _logger = logger;
        _events = events;
    }

    /// <summary>The default minimum for a volume of <paramref name="totalBytes"/>: the smaller of 1 GiB and 5 %.</summary>
    public static long DefaultMinFreeBytes(long totalBytes) => Math.Min(DefaultCapBytes, totalBytes / 20);

    /// <summary>Reads the volume now, updates the status detail on a change, and answers whether writes must stop.</summary>
    public SpaceCheck Check()
    {
        long free;
        long total;
        try
        {
            var drive = new DriveInfo(_root);
            free = drive.AvailableFreeSpace;
            total = drive.TotalSize;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return new SpaceCheck(false, -1, 0); // unknown: do not refuse on a guess; a real ENOSPC is still a 507
        }

        var min = _settings.Current.Storage.MinFreeBytes ?? DefaultMinFreeBytes(total);
        var check = new SpaceCheck(free < min, free, min);
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
    public string Describe() =>
        $"the data volume has {FreeBytes} bytes free, below storage.minFreeBytes ({MinFreeBytes}): pushes are refused and sync down is paused until space is freed (delete images, then garbage collection)";

    /// <summary>
    /// A client's request this full volume refuses (a push, an on-demand fetch): <c>INSUFFICIENT_STORAGE</c> (507) with
    /// the free bytes and the minimum, built here for every one; <paramref name="refused"/> says what waits for space.
    /// </summary>
    public OciException Refusal(string refused) =>
        new(OciErrorCode.InsufficientStorage, $"the registry's storage is full: {refused}", new { freeBytes = FreeBytes, minFreeBytes = MinFreeBytes });
}
