using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Start-up tuning of the sync engine (not in the twin): command line <c>--sync-parallel-blobs</c> or the
/// environment <c>SYNC_PARALLEL_BLOBS</c> (1 to 64; another value ends the start; absent: <see cref="BlobSlots"/> chooses), and <c>--parent-ca-file</c>
/// (<c>PARENT_CA_FILE</c>) for an extra trusted root of the parent.
/// </summary>
public sealed record SyncOptions
{
    /// <summary>
    /// Blobs transferred at the same time, as given (<c>SYNC_PARALLEL_BLOBS</c>); null: <see cref="BlobSlots"/> chooses
    /// by the bandwidth cap in force.
    /// </summary>
    public int? ParallelBlobs { get; init; }

    /// <summary>
    /// Blob slots of a sync pass when none are given and no bandwidth cap is in force: a pass over small blobs is bound
    /// by the CPU and each blob's round trips, and 8 slots keep the link busy while downloads verify and commit
    /// (issue 21: full sync 0.17-0.20 x <c>skopeo sync</c> with 8 against 0.17-0.26 x with 4, same runs).
    /// </summary>
    public const int UncappedParallelBlobs = 8;

    /// <summary>
    /// Blob slots when none are given and a bandwidth cap is in force, and of on-demand fetch: under a cap more slots
    /// only split the cap, and each new connection pays its receive window up front, which the parent fills at once
    /// (twice the connections starting together would double that burst on the wire).
    /// </summary>
    public const int CappedParallelBlobs = 4;

    /// <summary>
    /// The blob slots of a pass that starts with a bandwidth cap in force (<paramref name="capped"/>) or not: the
    /// number given, else <see cref="CappedParallelBlobs"/> or <see cref="UncappedParallelBlobs"/>.
    /// </summary>
    public int BlobSlots(bool capped) => ParallelBlobs ?? (capped ? CappedParallelBlobs : UncappedParallelBlobs);

    /// <summary>Attempts per blob within one pass (a broken transfer resumes from the bytes already stored).</summary>
    public int BlobAttempts { get; init; } = 3;

    /// <summary>
    /// Pause before a blob is tried again in the same pass after a fault of the parent's content; after a network error
    /// a download is tried again at once (its request probes the link).
    /// </summary>
    public TimeSpan BlobRetryPause { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Bytes per <c>PATCH</c> of a sync up blob upload (raised to the parent's <c>OCI-Chunk-Min-Length</c>). A parent
    /// that keeps what arrived of a broken chunk (this module) loses nothing to a drop whatever the size; one that drops
    /// a broken chunk but keeps its session loses at most one chunk; each chunk costs one round trip (0.6 s on a
    /// satellite link, 15 % of the 3.4 s that 8 MiB takes at 20 Mbit/s).
    /// </summary>
    public long UploadChunkBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>How often progress goes into the module state (and so the reported properties) at most.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Tags whose manifests are checked at the same time (HEAD requests).</summary>
    public int ParallelTags { get; init; } = 4;

    /// <summary>
    /// Repositories synced at the same time (their blobs share the pass's <see cref="BlobSlots"/>): a pass over many
    /// small repositories is bound by round trips to the parent, not by bandwidth. 8 rather than 4: the round trips of one
    /// repository's tag list and manifest no longer leave the blob slots waiting between repositories.
    /// </summary>
    public int ParallelRepositories { get; init; } = 8;

    /// <summary>
    /// How long on-demand fetch waits for the parent's answer to one question (a manifest, a blob's size), and its
    /// connect timeout: a client asking for content the parent cannot give gets its 404 within this time.
    /// </summary>
    public TimeSpan OnDemandTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public ParentClientOptions Client { get; init; } = new();

    public static readonly StartupOption ParallelBlobsOption = new("sync-parallel-blobs", "SYNC_PARALLEL_BLOBS");
    public static readonly StartupOption ParentCaFileOption = new("parent-ca-file", ParentClientOptions.CaFileVariable);

    /// <summary>The largest <see cref="ParallelBlobs"/> taken.</summary>
    public const int MaxParallelBlobs = 64;

    /// <exception cref="StartupException">A value is not one its option takes (<see cref="StartupConfiguration"/>).</exception>
    public static SyncOptions FromConfiguration(IConfiguration configuration)
    {
        var options = new SyncOptions();
        if (StartupConfiguration.Text(configuration, ParallelBlobsOption) is not null)
        {
            options = options with { ParallelBlobs = StartupConfiguration.Count(configuration, ParallelBlobsOption, CappedParallelBlobs, 1, MaxParallelBlobs) };
        }

        if (StartupConfiguration.Text(configuration, ParentCaFileOption) is { } caFile)
        {
            options = options with { Client = options.Client with { CaFile = caFile } };
        }

        return options;
    }
}
