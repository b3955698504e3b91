using ConnectedRegistry.Core;

namespace ConnectedRegistry.Storage;

/// <summary>
/// Storage tuning that is not in the twin. Read from configuration: <c>--upload-max-age</c> /
/// <c>REGISTRY_UPLOAD_MAX_AGE</c> (a TimeSpan, default 1 day) and <c>--gc-grace</c> / <c>REGISTRY_GC_GRACE</c>
/// (how long an uploaded blob no manifest references yet is safe from garbage collection, default 1 hour),
/// <c>--upload-max-sessions</c> / <c>REGISTRY_UPLOAD_MAX_SESSIONS</c> (open upload sessions in total, default 1000) and
/// <c>--upload-max-sessions-per-repository</c> / <c>REGISTRY_UPLOAD_MAX_SESSIONS_PER_REPOSITORY</c> (default 100),
/// <c>--upload-max-sessions-per-client</c> / <c>REGISTRY_UPLOAD_MAX_SESSIONS_PER_CLIENT</c> (open sessions of one client
/// identity, default 100) and <c>--upload-idle-near-cap</c> / <c>REGISTRY_UPLOAD_IDLE_NEAR_CAP</c> (how long a session may
/// sit idle while a cap is near, default 10 minutes), <c>--pull-flush-interval</c> / <c>REGISTRY_PULL_FLUSH_INTERVAL</c> (how
/// often the pulls noted in memory are written to the database, default 10 seconds) and <c>--record-pulls</c> /
/// <c>REGISTRY_RECORD_PULLS</c> (true by default; false only to measure what recording costs).
/// </summary>
public sealed class StorageOptions
{
    public TimeSpan UploadMaxAge { get; init; } = TimeSpan.FromDays(1);

    public TimeSpan GarbageCollectionGrace { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Open upload sessions in the whole registry; one more is refused with 429 TOOMANYREQUESTS.</summary>
    public int UploadMaxSessions { get; init; } = 1000;

    /// <summary>Open upload sessions in one repository; one more is refused with 429 TOOMANYREQUESTS.</summary>
    public int UploadMaxSessionsPerRepository { get; init; } = 100;

    /// <summary>
    /// Open upload sessions of one client identity (a token or child name; none with authentication off), over all
    /// repositories; one more is refused with 429 TOOMANYREQUESTS, so one client cannot take the whole registry's share.
    /// </summary>
    public int UploadMaxSessionsPerClient { get; init; } = 100;

    /// <summary>How long a session may sit idle while open sessions are near a cap (80 %) before it is purged.</summary>
    public TimeSpan UploadIdleAgeNearCap { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How often <see cref="PullRecorder"/> writes the pulls it noted in memory to the database, in one transaction;
    /// a crash loses at most this much of the record.
    /// </summary>
    public TimeSpan PullFlushInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Whether manifest pulls are recorded at all. Off only to measure the cost of recording (<c>bench/</c>): without
    /// it no last pull time is kept.
    /// </summary>
    public bool RecordPulls { get; init; } = true;

    /// <summary>How often storage statistics are refreshed into the module state.</summary>
    public TimeSpan StatusInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How soon after a blob is stored the storage figures are published: changes within it are one publish, so a
    /// sync of many blobs is not one update per blob, and the figures are never a whole interval behind.
    /// </summary>
    public TimeSpan StatusSettle { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a write waits at most for an eviction of content fetched on demand when it would take the data volume
    /// below the eviction mark, or is refused below the minimum (<see cref="FreeSpaceGuard.ReserveAsync"/>): about one
    /// eviction run (a batch of 64 manifests takes about a second on a 2-core gateway). Only when something may be evicted.
    /// </summary>
    public TimeSpan EvictionWait { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The smallest chunk size the registry asks clients for (<c>OCI-Chunk-Min-Length</c>).</summary>
    public long ChunkMinLength { get; init; } = 0;

    public static readonly StartupOption UploadMaxAgeOption = new("upload-max-age", "REGISTRY_UPLOAD_MAX_AGE");
    public static readonly StartupOption GcGraceOption = new("gc-grace", "REGISTRY_GC_GRACE");
    public static readonly StartupOption UploadMaxSessionsOption = new("upload-max-sessions", "REGISTRY_UPLOAD_MAX_SESSIONS");
    public static readonly StartupOption UploadMaxSessionsPerRepositoryOption = new("upload-max-sessions-per-repository", "REGISTRY_UPLOAD_MAX_SESSIONS_PER_REPOSITORY");
    public static readonly StartupOption UploadMaxSessionsPerClientOption = new("upload-max-sessions-per-client", "REGISTRY_UPLOAD_MAX_SESSIONS_PER_CLIENT");
    public static readonly StartupOption UploadIdleNearCapOption = new("upload-idle-near-cap", "REGISTRY_UPLOAD_IDLE_NEAR_CAP");
    public static readonly StartupOption PullFlushIntervalOption = new("pull-flush-interval", "REGISTRY_PULL_FLUSH_INTERVAL");
    public static readonly StartupOption RecordPullsOption = new("record-pulls", "REGISTRY_RECORD_PULLS");

    /// <exception cref="StartupException">A value is not one its option takes (<see cref="StartupConfiguration"/>).</exception>
    public static StorageOptions FromConfiguration(IConfiguration configuration)
    {
        var defaults = new StorageOptions();
        return new StorageOptions
        {
            UploadMaxAge = StartupConfiguration.Duration(configuration, UploadMaxAgeOption, defaults.UploadMaxAge),
            GarbageCollectionGrace = StartupConfiguration.Duration(configuration, GcGraceOption, defaults.GarbageCollectionGrace),
            UploadMaxSessions = StartupConfiguration.Count(configuration, UploadMaxSessionsOption, defaults.UploadMaxSessions),
            UploadMaxSessionsPerRepository = StartupConfiguration.Count(configuration, UploadMaxSessionsPerRepositoryOption, defaults.UploadMaxSessionsPerRepository),
            UploadMaxSessionsPerClient = StartupConfiguration.Count(configuration, UploadMaxSessionsPerClientOption, defaults.UploadMaxSessionsPerClient),
            UploadIdleAgeNearCap = StartupConfiguration.Duration(configuration, UploadIdleNearCapOption, defaults.UploadIdleAgeNearCap),

            // An interval of zero would be a timer that never waits.
            PullFlushInterval = StartupConfiguration.Read(configuration, PullFlushIntervalOption, defaults.PullFlushInterval,
                SettingRules.DurationAboveZero(defaults.PullFlushInterval)),
            RecordPulls = StartupConfiguration.Flag(configuration, RecordPullsOption, defaults.RecordPulls),
        };
    }
}
