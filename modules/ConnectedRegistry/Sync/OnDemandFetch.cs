using System.Collections.Concurrent;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Sync;

/// <summary>
/// On-demand pull-through (<see cref="IOnDemandSource"/>): a client's miss in a repository of the sync set (the one
/// <see cref="SyncSet"/>) is fetched from the parent with the sync token at once, at any time of day, while twin
/// <c>sync.onDemand</c> is on. Its own parent client has a short connect timeout and no retries, and every question
/// to the parent is bounded by <see cref="SyncOptions.OnDemandTimeout"/>, so an unreachable parent costs the client
/// a few seconds and then the normal 404.
/// <list type="bullet">
/// <item>Blobs: one fetch per repository and digest at a time; the download itself is the host's one
/// <see cref="BlobDownloads"/> (single-flight per digest, shared with sync passes and the stores below), written to
/// the partial file as it arrives and stored only once verified. Readers follow the partial file as the download
/// announces its bytes (<see cref="BlobArrival"/>). A blob is served from (and linked into) a repository only once
/// the parent said that repository holds it, also when it is here or on its way for another one. The length the
/// parent declares is checked before the client gets a header: against the size the manifest fetched on demand gave
/// the blob (<see cref="KnownBlobSizes"/>) or a running download's, else against what the data volume can take.</item>
/// <item>Manifests: one fetch per repository and reference at a time; the bytes are served at once. An image
/// manifest is then stored in the background with its blobs (and its tag, as synced content, through
/// <see cref="TagSync.StoreTagAsync"/>), so a tag never points at incomplete content, and marked as fetched on demand
/// (<see cref="OnDemandContent"/>: evicted, least recently pulled first, when the volume runs low, unless the sync set
/// keeps it). An index is served and not stored: its children are fetched as the client asks; sync down sets its tag.</item>
/// </list>
/// </summary>
public sealed partial class OnDemandFetch : IOnDemandSource, IDisposable
{
    private readonly IRegistrySettingsSource _settings;
    private readonly ModuleState _state;
    private readonly ISyncDestination _local;
    private readonly TagSync _tags;
    private readonly ManifestGraphSync _graph;
    private readonly SyncOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<OnDemandFetch> _logger;
    private readonly ParentClientSlot _client;
    private readonly RegistryMetrics? _metrics;
    private readonly BlobFetcher _blobs;
    private readonly Storage.FreeSpaceGuard? _space;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<(string Repository, Digest Digest), Lazy<Task<OnDemandBlob?>>> _blobFlights = new();
    private readonly ConcurrentDictionary<(string Repository, string Reference), Lazy<Task<OnDemandManifest?>>> _manifestFlights = new();
    private readonly KnownBlobSizes _sizes = new();
    private readonly OnDemandContent? _onDemand;

    public OnDemandFetch(IRegistrySettingsSource settings, ModuleState state, ISyncDestination local, TagSync tags, ManifestGraphSync graph, SyncOptions options, TimeProvider time, ILogger<OnDemandFetch> logger, SyncEnvironment environment, BlobDownloads downloads, IParentTrustSource? trust = null, LinkThrottle? throttle = null, RegistryMetrics? metrics = null, Storage.FreeSpaceGuard? space = null,
        OnDemandContent? onDemand = null)
    {
        _onDemand = onDemand;
        _space = space;
        _settings = settings;
        _metrics = metrics;
        _state = state;
        _local = local;
        _tags = tags;
        _graph = graph;
        _options = options;
        _time = time;
        _logger = logger;
        var clientOptions = options.Client with
        {
            ConnectTimeout = options.OnDemandTimeout < options.Client.ConnectTimeout ? options.OnDemandTimeout : options.Client.ConnectTimeout,
            MaxRetries = 0,
            Throttle = throttle ?? options.Client.Throttle, // on-demand traffic shares the one cap on the link
        };
        _client = new ParentClientSlot(clientOptions, time, logger, environment, trust);
        // Every blob that crosses the link for on-demand counts once, when stored: the client's own download, the background
        // store's (which may have it whole before the client asks for it), or one of theirs the other joined.
        var fetched = new SyncPassMeter(state, TimeSpan.MaxValue, time) { Stored = (repository, blob) => Fetched($"{repository}@{blob.Digest}", blob.Size) };
        _blobs = new BlobFetcher(local, options with { BlobAttempts = 1 }, time, logger, fetched, downloads);
    }

    public async Task<OnDemandManifest?> FetchManifestAsync(string repository, Reference reference, CancellationToken cancellationToken)
    {
        var (parent, settings) = await ParentForAsync(repository, reference.ToString(), cancellationToken);
        if (parent is null)
        {
            return null;
        }

        // An image manifest fetched here is stored (with its blobs): refused below the minimum, as a blob is.
        await RefuseWhenFullAsync(repository, reference.ToString(), cancellationToken);
        var flight = Join(_manifestFlights, (repository, reference.ToString()), () => FetchManifestAsync(parent, settings!, repository, reference));
        return await flight.WaitAsync(cancellationToken);
    }

    public async Task<OnDemandBlob?> FetchBlobAsync(string repository, Digest digest, CancellationToken cancellationToken)
    {
        var (parent, _) = await ParentForAsync(repository, digest.ToString(), cancellationToken);
        if (parent is null)
        {
            return null;
        }

        await RefuseWhenFullAsync(repository, digest.ToString(), cancellationToken);
        var flight = Join(_blobFlights, (repository, digest), () => StartBlobAsync(parent, repository, digest));
        return await flight.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// The 507 of a miss that would be fetched and stored while the data volume is below the minimum, after an eviction
    /// of content fetched on demand had its bounded chance to free room (<see cref="Storage.FreeSpaceGuard.CheckAsync"/>).
    /// </summary>
    private async Task RefuseWhenFullAsync(string repository, string reference, CancellationToken cancellationToken)
    {
        if (_space is not null && await _space.CheckAsync(cancellationToken) is { Full: true } full)
        {
            Failed(repository, reference, full.Describe());
            throw full.Refusal("content that is not here cannot be fetched from the parent until space is freed");
        }
    }

    public void Dispose()
    {
        _stopping.Cancel(); // not disposed: background stores may still look at the token
        _blobs.Dispose();
        _client.Dispose();
    }

    /// <summary>The parent client when on-demand applies to <paramref name="repository"/>, else null (and why, at Debug).</summary>
    private async Task<(IParentRegistry? Parent, RegistrySettings? Settings)> ParentForAsync(string repository, string reference, CancellationToken cancellationToken)
    {
        var settings = _settings.Current;
        if (!settings.Sync.OnDemand)
        {
            Log.Skipped(_logger, repository, reference, "on-demand fetch is off (sync.onDemand)");
            return (null, null);
        }

        if (!SyncSet.Of(settings).Contains(repository))
        {
            Log.Skipped(_logger, repository, reference, "the repository is not in the sync set");
            return (null, null);
        }

        var parent = await _client.ClientForAsync(settings, cancellationToken);
        if (parent is null)
        {
            Log.Skipped(_logger, repository, reference, "no parent is configured");
        }

        return (parent, settings);
    }

    /// <summary>Joins the flight for <paramref name="key"/>, starting it when there is none; it is forgotten when it ends.</summary>
    private static Task<T> Join<TKey, T>(ConcurrentDictionary<TKey, Lazy<Task<T>>> flights, TKey key, Func<Task<T>> start)
        where TKey : notnull
    {
        var entry = flights.GetOrAdd(key, _ => new Lazy<Task<T>>(() => Task.Run(start)));
        return entry.Value;
    }

    private static void Forget<TKey, T>(ConcurrentDictionary<TKey, Lazy<Task<T>>> flights, TKey key)
        where TKey : notnull => flights.TryRemove(key, out _);

    private async Task<OnDemandManifest?> FetchManifestAsync(IParentRegistry parent, RegistrySettings settings, string repository, Reference reference)
    {
        try
        {
            var manifest = await AskAsync(repository, reference.ToString(), token => parent.GetManifestAsync(repository, reference.ToString(), token));
            if (manifest is null)
            {
                return null;
            }

            Fetched($"{repository}{(reference.Tag is { } t ? ":" + t : "@" + manifest.Digest)}", manifest.Bytes.Length);
            var parsed = manifest.Parse();
            _sizes.Remember(repository, parsed); // the client asks for these blobs next: their lengths are checked against it
            if (parsed.Manifests.Count == 0)
            {
                _ = StoreInBackgroundAsync(parent, settings.Mode, repository, reference.Tag, manifest);
            }

            return new OnDemandManifest(manifest.Bytes, manifest.MediaType, manifest.Digest);
        }
        catch (ParentContentException ex)
        {
            Failed(repository, reference.ToString(), ex.Message);
            return null;
        }
        finally
        {
            Forget(_manifestFlights, (repository, reference.ToString()));
        }
    }

    /// <summary>Stores an image manifest fetched on demand once its blobs are whole (the tag with it, as synced content).</summary>
    private async Task StoreInBackgroundAsync(IParentRegistry parent, RegistryMode mode, string repository, string? tag, ManifestContent manifest)
    {
        var pass = new SyncPass(parent, _blobs, new SyncPassMeter(_state, TimeSpan.MaxValue, _time), mode, _stopping.Token);
        try
        {
            // Here only because a client asked: evictable when the volume runs low, until the sync set keeps it. A tag
            // is marked as soon as it is stored (a pass that sees it then leaves it to eviction, also outside `newest`).
            if (tag is not null)
            {
                await _tags.StoreTagAsync(pass, repository, tag, manifest, PlatformFilter.All, onDemand: true);
            }
            else
            {
                await _graph.StoreAsync(pass, repository, manifest, null, PlatformFilter.All);
                _onDemand?.Mark(repository, manifest.Digest);
            }

            Log.ManifestStored(_logger, repository, tag ?? manifest.Digest.ToString(), manifest.Digest.ToString());
        }
        catch (Exception ex) when (!_stopping.IsCancellationRequested)
        {
            Log.StoreFailed(_logger, repository, tag ?? manifest.Digest.ToString(), ex.Message);
        }
        catch (OperationCanceledException)
        {
            // shutting down: what is complete stays, partial blobs resume later
        }
    }

    /// <summary>
    /// The blob's fetch for <paramref name="repository"/>, or null when the parent does not have it there. A blob here
    /// already, or on its way, for another repository is served from this one only once the parent said that this
    /// repository holds it: the same digest elsewhere says nothing about who may read it (a client that may read only
    /// this repository would otherwise get another's blob, and it would stay linked here). That question costs one
    /// byte (<see cref="HeldAtParentAsync"/>); the download running is then joined, so the blob still crosses the link
    /// once whoever asks.
    /// </summary>
    private async Task<OnDemandBlob?> StartBlobAsync(IParentRegistry parent, string repository, Digest digest)
    {
        BlobFlight? download;
        try
        {
            download = _blobs.HereOrOnItsWay(digest) is { } size
                ? await JoinAsync(parent, repository, digest, size)
                : await DownloadAsync(parent, repository, digest);
        }
        catch
        {
            Forget(_blobFlights, (repository, digest));
            throw;
        }

        if (download is null)
        {
            Forget(_blobFlights, (repository, digest));
            return null;
        }

        return new OnDemandBlob(download.Blob.Size, StoreBlobAsync(repository, download), download.Arrival);
    }

    /// <summary>
    /// The download of a blob that is neither here nor on its way, started from <paramref name="repository"/>; null when
    /// the parent does not have it there. The parent is asked with a GET, not a HEAD: its answer carries the size and
    /// the bytes start moving at once. (A parent that fetches on demand itself answers a HEAD only once it stored the
    /// whole blob, so a HEAD first would cost a chain of registries one whole transfer per level before the first byte.)
    /// </summary>
    private async Task<BlobFlight?> DownloadAsync(IParentRegistry parent, string repository, Digest digest)
    {
        var staged = _local.StagedLength(digest);
        var opened = await AskAsync(repository, digest.ToString(), token => OpenAsync(parent, repository, digest, staged, token));
        if (opened is null)
        {
            return null;
        }

        var size = opened.TotalLength;
        if (size is null)
        {
            // no length in the answer (a chunked 200, a Content-Range without its total): the size from a HEAD
            await opened.DisposeAsync();
            opened = null;
            size = await AskAsync(repository, digest.ToString(), token => parent.HeadBlobAsync(repository, digest, token));
            if (size is null)
            {
                return null;
            }
        }

        if (Implausible(repository, digest, size.Value, staged) is { } refusal)
        {
            if (opened is not null)
            {
                await opened.DisposeAsync();
            }

            throw refusal;
        }

        // A blob that would take the volume below the minimum (with the writes under way) is a 507 before it starts; once
        // started it could only break the client's answer midway.
        if (_space is not null)
        {
            try
            {
                await _space.EnsureRoomAsync(size.Value - staged, "content that is not here cannot be fetched from the parent until space is freed", _stopping.Token);
            }
            catch (Storage.InsufficientSpaceException ex)
            {
                Failed(repository, digest.ToString(), ex.Check.Describe());
                if (opened is not null)
                {
                    await opened.DisposeAsync();
                }

                throw;
            }
        }

        // A download started meanwhile (for this or another repository) is joined and this answer dropped: the parent
        // has just said that this repository holds the blob.
        return _blobs.Start(parent, repository, new Descriptor("application/octet-stream", digest, size.Value), opened);
    }

    /// <summary>
    /// The refusal of a blob's length the parent declared, before the client gets a header (its <c>Content-Length</c>
    /// is this length): another size than the manifest fetched on demand gave it (<c>BLOB_UNKNOWN</c>, the parent is
    /// faulty for this request), or, with no size known, more than the data volume can take (<c>INSUFFICIENT_STORAGE</c>:
    /// the blob cannot be stored here, and a lie of 10^12 bytes is not answered as a 200 that never ends). Null: plausible.
    /// </summary>
    private OciException? Implausible(string repository, Digest digest, long declared, long staged)
    {
        if (_sizes.SizeOf(repository, digest) is { } known)
        {
            if (known == declared)
            {
                return null;
            }

            var reason = $"the parent declared {declared} bytes, its manifest says {known}";
            Failed(repository, digest.ToString(), reason);
            return new OciException(OciErrorCode.BlobUnknown, "the blob could not be fetched from the parent: " + reason, new { digest = digest.ToString() });
        }

        if (_space?.Check() is { } space && declared - staged > space.FreeBytes - space.MinFreeBytes)
        {
            var reason = $"the parent declared {declared} bytes, more than the data volume can take";
            Failed(repository, digest.ToString(), reason);
            return space.Refusal($"{reason} ({space.FreeBytes} bytes free, {space.MinFreeBytes} kept free)");
        }

        return null;
    }

    /// <summary>
    /// A blob of <paramref name="size"/> bytes here already or on its way, for <paramref name="repository"/> too once the
    /// parent said that it holds it there: the download running joined (or the stored blob); null when it does not.
    /// </summary>
    private async Task<BlobFlight?> JoinAsync(IParentRegistry parent, string repository, Digest digest, long size)
    {
        var held = await AskAsync(repository, digest.ToString(), token => HeldAtParentAsync(parent, repository, digest, size, token));
        return held is null ? null : _blobs.Start(parent, repository, new Descriptor("application/octet-stream", digest, size));
    }

    /// <summary>
    /// Whether the parent holds the blob in <paramref name="repository"/>: <paramref name="size"/> when it does, null
    /// when not. Asked with a GET of the last byte, not a HEAD, for the reason of <see cref="DownloadAsync"/>: a
    /// registry holding the blob answers 206 with one byte; one that fetches it on demand itself answers 200 as soon
    /// as its own parent said yes, and that answer is dropped after its headers.
    /// </summary>
    private static async Task<long?> HeldAtParentAsync(IParentRegistry parent, string repository, Digest digest, long size, CancellationToken cancellationToken)
    {
        await using var answer = await OpenAsync(parent, repository, digest, Math.Max(0, size - 1), cancellationToken);
        if (answer?.TotalLength is { } declared && declared != size)
        {
            throw new ParentContentException($"the parent declared {declared} bytes for a blob of {size}"); // faulty for this request
        }

        return answer is null ? null : size;
    }

    /// <summary>A GET of the blob from <paramref name="offset"/> (what is staged already); null when the parent does not have it.</summary>
    private static async Task<BlobDownload?> OpenAsync(IParentRegistry parent, string repository, Digest digest, long offset, CancellationToken cancellationToken)
    {
        try
        {
            return await parent.GetBlobAsync(repository, digest, offset, cancellationToken);
        }
        catch (ParentRegistryException ex) when (ex.Status == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task StoreBlobAsync(string repository, BlobFlight download)
    {
        var blob = download.Blob;
        try
        {
            await download.WaitAsync(_stopping.Token);
            await _local.LinkBlobAsync(repository, blob.Digest, _stopping.Token); // the download may have been another repository's
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Failed(repository, blob.Digest.ToString(), ex.Message);
            throw;
        }
        finally
        {
            Forget(_blobFlights, (repository, blob.Digest));
        }
    }

    /// <summary>
    /// One question to the parent, bounded by <see cref="SyncOptions.OnDemandTimeout"/>: the answer, or null when the
    /// parent does not have it, cannot be reached in time or refuses (logged; the client gets the normal 404).
    /// </summary>
    private async Task<T?> AskAsync<T>(string repository, string reference, Func<CancellationToken, Task<T?>> ask)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(_options.OnDemandTimeout);
        try
        {
            var answer = await ask(timeout.Token);
            if (answer is null)
            {
                Log.NotAtParent(_logger, repository, reference);
            }

            return answer;
        }
        catch (Exception ex) when (ex is ParentRegistryException or ParentContentException or OperationCanceledException || ParentFailure.IsUnreachable(ex))
        {
            if (_stopping.IsCancellationRequested)
            {
                throw;
            }

            Failed(repository, reference, ex is OperationCanceledException ? $"no answer within {_options.OnDemandTimeout.TotalSeconds:0.#} s" : ex.Message);
            return default;
        }
    }

    private void Failed(string repository, string reference, string reason)
    {
        _metrics?.OnDemandFetch("failed");
        Log.Failed(_logger, repository, reference, reason);
    }

    private void Fetched(string reference, long bytes)
    {
        _metrics?.OnDemandFetch("fetched");
        var now = _time.GetUtcNow();
        _state.UpdateSync(s => s with { OnDemandFetches = s.OnDemandFetches + 1, LastOnDemandFetch = new OnDemandFetchStatus(reference, now) });
        Log.Fetched(_logger, reference, bytes);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4090, Level = LogLevel.Information, Message = "Fetched {Reference} from the parent on demand ({Bytes} bytes)")]
        public static partial void Fetched(ILogger logger, string reference, long bytes);

        [LoggerMessage(EventId = 4091, Level = LogLevel.Debug, Message = "Not fetching {Repository} {Reference} on demand: {Reason}")]
        public static partial void Skipped(ILogger logger, string repository, string reference, string reason);

        [LoggerMessage(EventId = 4092, Level = LogLevel.Debug, Message = "The parent does not have {Repository} {Reference}")]
        public static partial void NotAtParent(ILogger logger, string repository, string reference);

        [LoggerMessage(EventId = 4093, Level = LogLevel.Warning, Message = "On-demand fetch of {Repository} {Reference} failed: {Reason}")]
        public static partial void Failed(ILogger logger, string repository, string reference, string reason);

        [LoggerMessage(EventId = 4094, Level = LogLevel.Information, Message = "Stored {Repository}:{Reference} ({Digest}) fetched on demand, with all its content")]
        public static partial void ManifestStored(ILogger logger, string repository, string reference, string digest);

        [LoggerMessage(EventId = 4095, Level = LogLevel.Warning, Message = "Could not store {Repository}:{Reference} fetched on demand: {Reason}")]
        public static partial void StoreFailed(ILogger logger, string repository, string reference, string reason);
    }
}
