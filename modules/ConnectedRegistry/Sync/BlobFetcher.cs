using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Sync;

/// <summary>
/// What one sync pass (or on-demand fetch) asks of <see cref="BlobDownloads"/>: never a blob that is stored already
/// (in any repository); at most its number of blob slots of downloads of its own at a time (<see cref="SyncOptions.BlobSlots"/>); its
/// <see cref="SyncOptions.BlobAttempts"/> for the downloads it starts; its meter counts the bytes of every download
/// it waits for, its own or one another caller started (a pass and an on-demand GET of one blob share one download).
/// </summary>
public sealed class BlobFetcher : IDisposable
{
    private readonly ISyncDestination _local;
    private readonly SyncOptions _options;
    private readonly SyncPassMeter? _meter;
    private readonly SemaphoreSlim _slots;
    private readonly BlobDownloads _downloads;
    private readonly bool _ownsDownloads;

    /// <param name="downloads">The host's one <see cref="BlobDownloads"/>; without it the fetcher has its own.</param>
    /// <param name="slots">Downloads of its own at a time; null: the options' number for a capped link (<see cref="SyncOptions.BlobSlots"/>).</param>
    public BlobFetcher(ISyncDestination local, SyncOptions options, TimeProvider time, ILogger logger, SyncPassMeter? meter = null, BlobDownloads? downloads = null, int? slots = null)
    {
        _local = local;
        _options = options;
        _meter = meter;
        Slots = Math.Max(1, slots ?? options.BlobSlots(capped: true));
        _slots = new SemaphoreSlim(Slots);
        _ownsDownloads = downloads is null;
        _downloads = downloads ?? new BlobDownloads(local, options, time, logger);
    }

    /// <summary>Downloads of its own at a time.</summary>
    public int Slots { get; }

    /// <summary>
    /// Completes when <paramref name="blob"/> is stored (or was stored already); a download this call starts is
    /// linked to <paramref name="repository"/>. <paramref name="cancellationToken"/> ends this caller's wait; the
    /// download goes on while another caller waits for it.
    /// </summary>
    public Task EnsureAsync(IParentRegistry parent, string repository, Descriptor blob, CancellationToken cancellationToken)
    {
        if (_local.HasBlob(blob.Digest))
        {
            return Task.CompletedTask; // storing the manifest links it to the repository
        }

        return Start(parent, repository, blob).WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Joins (or starts) the download of <paramref name="blob"/>; follow with one <see cref="BlobFlight.WaitAsync"/>.
    /// <paramref name="opened"/>: a GET of it already answered, read by the download this starts (see <see cref="BlobDownloads.Join"/>).
    /// </summary>
    public BlobFlight Start(IParentRegistry parent, string repository, Descriptor blob, BlobDownload? opened = null) =>
        _downloads.Join(parent, repository, blob, _options.BlobAttempts, _slots, _meter, opened);

    /// <summary>
    /// The size of the blob of <paramref name="digest"/> when it is stored (for any repository) or a download of it
    /// runs (for any repository, not joined), else null.
    /// </summary>
    public long? HereOrOnItsWay(Digest digest) => _local.BlobSize(digest) ?? _downloads.RunningSize(digest);

    public void Dispose()
    {
        if (_ownsDownloads)
        {
            _downloads.Dispose();
        }

        // The slots are not disposed: a download started by this fetcher may still release one after a cancelled pass.
    }
}
