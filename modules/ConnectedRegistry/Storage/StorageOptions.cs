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

    /// <summary>The smallest chunk size the registry asks clients for (<c>OCI-Chunk-Min-Length</c>).</summary>
    public long ChunkMinLength { get; init; } = 0;

    public static StorageOptions FromConfiguration(IConfiguration configuration)
    {
        static TimeSpan Read(IConfiguration c, TimeSpan fallback, params string[] keys)
        {
            foreach (var key in keys)
            {
                var value = c[key];
                if (!string.IsNullOrWhiteSpace(value))
                {
                    return TimeSpan.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var span) && span >= TimeSpan.Zero
                        ? span
                        : throw new StartupException($"{Name(key)} must be a non-negative time span such as 1.00:00:00 (one day) or 00:30:00, got '{value}'.");
                }
            }

            return fallback;
        }

        static int Count(IConfiguration c, int fallback, params string[] keys)
        {
            foreach (var key in keys)
            {
                var value = c[key];
                if (!string.IsNullOrWhiteSpace(value))
                {
                    return int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var count) && count >= 1
                        ? count
                        : throw new StartupException($"{Name(key)} must be a whole number of at least 1, got '{value}'.");
                }
            }

            return fallback;
        }

        static bool Flag(IConfiguration c, bool fallback, params string[] keys)
        {
            foreach (var key in keys)
            {
                var value = c[key];
                if (!string.IsNullOrWhiteSpace(value))
                {
                    return bool.TryParse(value, out var flag)
                        ? flag
                        : throw new StartupException($"{Name(key)} must be true or false, got '{value}'.");
                }
            }

            return fallback;
        }

        // The message names the option as it was given: --upload-max-age on the command line, REGISTRY_UPLOAD_MAX_AGE in the environment.
        static string Name(string key) => key.StartsWith("REGISTRY_", StringComparison.Ordinal) ? key : "--" + key;

        return new StorageOptions
        {
            UploadMaxAge = Read(configuration, TimeSpan.FromDays(1), "upload-max-age", "REGISTRY_UPLOAD_MAX_AGE"),
            GarbageCollectionGrace = Read(configuration, TimeSpan.FromHours(1), "gc-grace", "REGISTRY_GC_GRACE"),
            UploadMaxSessions = Count(configuration, 1000, "upload-max-sessions", "REGISTRY_UPLOAD_MAX_SESSIONS"),
            UploadMaxSessionsPerRepository = Count(configuration, 100, "upload-max-sessions-per-repository", "REGISTRY_UPLOAD_MAX_SESSIONS_PER_REPOSITORY"),
            UploadMaxSessionsPerClient = Count(configuration, 100, "upload-max-sessions-per-client", "REGISTRY_UPLOAD_MAX_SESSIONS_PER_CLIENT"),
            UploadIdleAgeNearCap = Read(configuration, TimeSpan.FromMinutes(10), "upload-idle-near-cap", "REGISTRY_UPLOAD_IDLE_NEAR_CAP"),
            PullFlushInterval = Positive(configuration, TimeSpan.FromSeconds(10), "pull-flush-interval", "REGISTRY_PULL_FLUSH_INTERVAL"),
            RecordPulls = Flag(configuration, true, "record-pulls", "REGISTRY_RECORD_PULLS"),
        };

        // An interval of zero would be a timer that never waits.
        static TimeSpan Positive(IConfiguration c, TimeSpan fallback, params string[] keys)
        {
            var interval = Read(c, fallback, keys);
            return interval > TimeSpan.Zero
                ? interval
                : throw new StartupException($"{Name(keys.First(k => !string.IsNullOrWhiteSpace(c[k])))} must be longer than zero, such as 00:00:10 (ten seconds), got '{c[keys.First(k => !string.IsNullOrWhiteSpace(c[k]))]}'.");
        }
    }
}
