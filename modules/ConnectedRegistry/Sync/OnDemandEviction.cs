using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Evicts content fetched on demand (<see cref="OnDemandContent"/>) when the data volume falls below the eviction mark
/// (twin <c>storage.evictBelowFreeBytes</c>, by default a few times <c>storage.minFreeBytes</c>, so space is freed
/// before pushes or sync are refused): least recently pulled first, in batches of at most <see cref="MaxBatch"/>, each
/// ending once it left enough bytes unused to reach the mark, until the volume is above the mark again or nothing
/// evictable is left. Woken by <see cref="FreeSpaceGuard.BelowEvictionMark"/>, which the maintenance loop's status tick
/// and every write's check raise, at start and when the settings change.
/// <para>
/// It runs ahead of the writes: the volume is read less what writes under way reserved and what sync announced it is
/// about to download (<see cref="SpaceCheck.PendingBytes"/>), so a pass's blobs are made room for before they arrive.
/// It is the guard's <see cref="ISpaceMaker"/>: a write that would take the volume below the mark, or is refused below
/// the minimum, asks for a run and waits for it, bounded (<see cref="FreeSpaceGuard.ReserveAsync"/>). It holds no lock a
/// writer holds while waiting: the collector's run lock is taken only here, inside the run.
/// </para>
/// <list type="bullet">
/// <item>Never evicted: what the sync set keeps (its tags' manifests lose the mark), local pushes (never marked, and a
/// client's push of a marked manifest takes the mark), a manifest with a tag whose local push waits for delivery, a
/// manifest with a tag a <c>storage.retention</c> rule keeps (<see cref="RetentionRules.KeepsAny"/>, the rule a
/// retention pass keeps it by), an entry of an index, and anything pulled (or fetched) within
/// <c>storage.pinPulledWithin</c> (default 7 days; the pull times are flushed first, and looked at again in the write).</item>
/// <item>Deleted through the store's serialised write (<see cref="RegistryStore.EvictManifestsAsync"/>, every manifest
/// decided again there) and the garbage collector's blob deletion, both under the collector's run lock
/// (<see cref="GarbageCollector.ExclusiveAsync{T}"/>): the one lock discipline of pushes, sync, on-demand fetch, retention
/// and garbage collection, so no collection frees an evicted manifest's blobs in between and the bytes reported are
/// the bytes freed. Blobs and links younger than the garbage collection grace stay, so a push or fetch that just stored
/// a blob for a manifest not written yet keeps it.</item>
/// <item>A reader of a deleted blob keeps an open file (Linux frees an unlinked file when its last reader closes it), and
/// a reader that comes after the deletion misses: the blob is fetched on demand again, or the answer is a 404 before
/// any byte. Nothing is ever cut off midway.</item>
/// </list>
/// </summary>
public sealed partial class OnDemandEviction : BackgroundService, ISpaceMaker
{
    /// <summary>
    /// Manifests evicted in one write of the store at most (then their blob files in one more, and the volume read again).
    /// One write and one blob deletion per manifest cost about 20 ms a manifest on the 2-core test machine.
    /// </summary>
    public const int MaxBatch = 64;

    /// <summary>After a run that left the volume below the mark (nothing more may go), signals are ignored this long.</summary>
    public static readonly TimeSpan QuietAfterNothingLeft = TimeSpan.FromSeconds(30);

    private readonly OnDemandContent _content;
    private readonly RegistryStore _store;
    private readonly GarbageCollector _collector;
    private readonly PullRecorder _pulls;
    private readonly FreeSpaceGuard _guard;
    private readonly IPendingPushes _pending;
    private readonly IRegistrySettingsSource _settings;
    private readonly StorageOptions _options;
    private readonly ModuleState _state;
    private readonly TimeProvider _time;
    private readonly ILogger<OnDemandEviction> _logger;
    private readonly RegistryMetrics? _metrics;
    private readonly IEventPublisher? _events;
    private readonly SemaphoreSlim _single = new(1, 1);
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _askGate = new();
    private Task? _asked;
    private volatile bool _disposed;
    private DateTimeOffset _quietUntil = DateTimeOffset.MinValue;
    private bool _nothingLeftLogged;
    private int _runs;

    public OnDemandEviction(OnDemandContent content, RegistryStore store, GarbageCollector collector, PullRecorder pulls, FreeSpaceGuard guard, IPendingPushes pending, IRegistrySettingsSource settings,
        StorageOptions options, ModuleState state, TimeProvider time, ILogger<OnDemandEviction> logger, RegistryMetrics? metrics = null, IEventPublisher? events = null)
    {
        _content = content;
        _store = store;
        _collector = collector;
        _pulls = pulls;
        _guard = guard;
        _pending = pending;
        _settings = settings;
        _options = options;
        _state = state;
        _time = time;
        _logger = logger;
        _metrics = metrics;
        _events = events;
        _guard.BelowEvictionMark += OnBelowMark;
        _guard.SpaceMaker = this;
        _settings.Changed += OnSettingsChanged;
    }

    /// <summary>Raised after a run that evicted anything (whether the background loop or a caller ran it), with what went.</summary>
    public event Action<EvictionResult>? Evicted;

    /// <summary>Eviction runs the background loop has completed (tests wait for it).</summary>
    public int Runs => Volatile.Read(ref _runs);

    public override void Dispose()
    {
        if (_disposed)
        {
            return; // registered as a singleton and as a hosted service: disposed twice
        }

        _disposed = true;
        _guard.BelowEvictionMark -= OnBelowMark;
        if (ReferenceEquals(_guard.SpaceMaker, this))
        {
            _guard.SpaceMaker = null;
        }

        _settings.Changed -= OnSettingsChanged;
        _stopping.Cancel(); // a run a writer asked for ends (it catches what the disposal below does to it)
        _single.Dispose();
        _signal.Dispose();
        _stopping.Dispose();
        base.Dispose();
    }

    /// <summary>Something fetched on demand is here, and no run found nothing evictable within the last <see cref="QuietAfterNothingLeft"/>.</summary>
    public bool CanFree => _content.Count > 0 && _time.GetUtcNow() >= _quietUntil && !_disposed;

    /// <summary>
    /// A run for writers waiting for room (<see cref="ISpaceMaker.FreeAsync"/>): one asked for and not started yet is
    /// joined. It runs on its own, on the host's stopping token, so a writer that stops waiting (its bound, its
    /// cancellation) leaves it to finish; it never faults (a failure is logged, and signals are quiet for a while).
    /// </summary>
    public Task FreeAsync()
    {
        lock (_askGate)
        {
            return _asked ??= Task.Run(RunAskedAsync);
        }
    }

    private async Task RunAskedAsync()
    {
        try
        {
            var stopping = _stopping.Token;
            await _single.WaitAsync(stopping);
            lock (_askGate)
            {
                _asked = null; // this run reads the volume from here on: a writer asking later gets the next one
            }

            try
            {
                if (_time.GetUtcNow() >= _quietUntil && (await EvictLockedAsync(stopping)).StillBelowMark)
                {
                    _quietUntil = _time.GetUtcNow() + QuietAfterNothingLeft;
                }
            }
            finally
            {
                _single.Release();
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException && _disposed)
        {
            // the host stops: the writers waiting go on (their own checks decide)
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException or LocalStorageException)
        {
            Log.Failed(_logger, ex);
            _quietUntil = _time.GetUtcNow() + QuietAfterNothingLeft;
        }
    }

    /// <summary>
    /// Evicts while the volume is below the mark: least recently pulled first, stopping once it is above it or nothing
    /// evictable is left. What went, in the order it went (nothing when the volume is above the mark).
    /// </summary>
    public async Task<EvictionResult> EvictAsync(CancellationToken cancellationToken)
    {
        await _single.WaitAsync(cancellationToken);
        try
        {
            return await EvictLockedAsync(cancellationToken);
        }
        finally
        {
            _single.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Ask(); // a volume below the mark at start is not left until the maintenance loop's first reading
        try
        {
            while (true)
            {
                await _signal.WaitAsync(stoppingToken);
                if (_time.GetUtcNow() < _quietUntil)
                {
                    continue;
                }

                try
                {
                    var result = await EvictAsync(stoppingToken);
                    if (result.StillBelowMark)
                    {
                        _quietUntil = _time.GetUtcNow() + QuietAfterNothingLeft;
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException or LocalStorageException)
                {
                    // A loop that threw would stop the host: the next signal tries again.
                    Log.Failed(_logger, ex);
                    _quietUntil = _time.GetUtcNow() + QuietAfterNothingLeft;
                }

                _signal.Wait(0); // readings taken while this run freed space asked for it again: already done
                Interlocked.Increment(ref _runs);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void OnBelowMark(SpaceCheck check) => Ask();

    /// <summary>A new mark or pin may make content evictable now: the run reads the volume itself.</summary>
    private void OnSettingsChanged(RegistrySettings settings)
    {
        _quietUntil = DateTimeOffset.MinValue;
        Ask();
    }

    /// <summary>Asks the loop for a run (it reads the volume first); nothing when nothing fetched on demand is here.</summary>
    private void Ask()
    {
        if (_content.Count == 0 || _signal.CurrentCount > 0)
        {
            return; // nothing fetched on demand is here, or a run is asked for already
        }

        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // asked by another reading at the same moment
        }
        catch (ObjectDisposedException)
        {
            // stopping
        }
    }

    private async Task<EvictionResult> EvictLockedAsync(CancellationToken cancellationToken)
    {
        var check = _guard.Check();
        if (!check.BelowEvictionMark)
        {
            _nothingLeftLogged = false;
            return new EvictionResult([], 0, check, StillBelowMark: false);
        }

        await FlushPullsAsync(cancellationToken);
        var now = _time.GetUtcNow();
        var settings = _settings.Current;
        var pinnedSince = now - settings.Storage.PinPulledWithin;
        var graceStart = now - _options.GarbageCollectionGrace;
        var rules = RetentionRules.Of(settings);
        var (candidates, pulls) = Candidates();
        var evictable = candidates.Where(c => !IsPinned(c.Repository, c.Digest, c.LastUsed, pinnedSince)).ToList();
        var pinned = candidates.Count - evictable.Count;

        var evicted = new List<EvictedManifest>();
        long bytes = 0;
        var next = 0;
        while (next < evictable.Count && check.BelowEvictionMark)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = evictable.GetRange(next, Math.Min(MaxBatch, evictable.Count - next));
            var (lookedAt, done) = await EvictBatchAsync(batch, check.BytesWanted, pinnedSince, graceStart, rules, pulls, now, cancellationToken);
            next += lookedAt;
            foreach (var one in done)
            {
                bytes += one.Bytes;
                evicted.Add(one);
            }

            check = _guard.Check();
        }

        var result = new EvictionResult(evicted, bytes, check, check.BelowEvictionMark);
        if (evicted.Count > 0)
        {
            Report(result, now);
            Evicted?.Invoke(result);
        }

        if (result.StillBelowMark && !_nothingLeftLogged)
        {
            Log.NothingLeft(_logger, check.FreeBytes, check.EvictBelowFreeBytes, pinned);
        }

        _nothingLeftLogged = result.StillBelowMark;
        return result;
    }

    /// <summary>
    /// Evicts up to <see cref="MaxBatch"/> manifests, least recently used first, in one write of the store, stopping once
    /// the blob files left unused reach <paramref name="bytesWanted"/>, then deletes those files; both under the garbage
    /// collector's run lock, so that no collection deletes them in between and the bytes reported are the bytes freed.
    /// Each manifest is decided again inside the write: still here, listed by no index, no pending local push of its tags,
    /// no retention rule keeping a tag of it, and not pulled within the pin (the pull written, or noted since). How many
    /// of the batch were looked at, and what went (each with the bytes of the files it alone freed).
    /// </summary>
    private async Task<(int LookedAt, List<EvictedManifest> Evicted)> EvictBatchAsync(List<(string Repository, Digest Digest, DateTimeOffset LastUsed)> batch, long bytesWanted,
        DateTimeOffset pinnedSince, DateTimeOffset graceStart, RetentionRules rules, PullsByRepository pulls, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var nowMs = now.ToUnixTimeMilliseconds();
        bool MayEvict(EvictionCheck check)
        {
            if (IsPinned(check.Repository, check.Digest, check.LastPulled, pinnedSince))
            {
                return false; // pulled since the candidates were read
            }

            if (check.Tags.Any(tag => _pending.HasPendingTag(check.Repository, tag)))
            {
                return false; // a client's push of a tag waits for delivery: the client's now
            }

            long LastPulled(string digest) => digest == check.Digest.ToString() && check.LastPulled is { } at ? at.ToUnixTimeMilliseconds() : pulls.Of(check.Repository, digest);
            return rules.IsEmpty || !rules.KeepsAny(check.Repository, check.Digest.ToString(), check.Tags, check.RepositoryTags, LastPulled, nowMs);
        }

        return await _collector.ExclusiveAsync(async held =>
        {
            var outcomes = await _store.EvictManifestsAsync([.. batch.Select(c => (c.Repository, c.Digest))], graceStart, bytesWanted, MayEvict, cancellationToken);
            // The marks go after the manifests (a crash in between leaves a mark of a manifest gone, dropped by a later run).
            RegistryDestination.Local(() => _content.Forget(outcomes.Where(o => o.Outcome is ManifestEvictionOutcome.Evicted or ManifestEvictionOutcome.Gone).Select(o => (o.Repository, o.Digest))));
            var deleted = (await held.DeleteUnusedBlobsAsync(outcomes.Where(o => o.Evicted).SelectMany(o => o.Blobs), graceStart)).ToDictionary(b => b.Digest, b => b.Size);
            var evicted = new List<EvictedManifest>();
            for (var i = 0; i < outcomes.Count; i++)
            {
                var eviction = outcomes[i];
                if (!eviction.Evicted)
                {
                    continue;
                }

                // A blob two manifests of the batch shared counts once, for the first of them.
                long freed = 0;
                foreach (var blob in eviction.Blobs.Distinct())
                {
                    if (deleted.Remove(blob, out var size))
                    {
                        freed += size;
                    }
                }

                var lastUsed = batch[i].LastUsed; // the outcomes follow the batch's order
                Log.ManifestEvicted(_logger, eviction.Repository, eviction.Digest.ToString(), string.Join(",", eviction.Tags), lastUsed, freed);
                evicted.Add(new EvictedManifest(eviction.Repository, eviction.Digest, eviction.Tags, lastUsed, freed));
            }

            return (outcomes.Count, evicted);
        }, cancellationToken);
    }

    /// <summary>
    /// Pulled (or fetched) within <c>storage.pinPulledWithin</c>, by the time read or a pull noted in memory since: a
    /// deployment may need it offline.
    /// </summary>
    private bool IsPinned(string repository, Digest digest, DateTimeOffset? lastUsed, DateTimeOffset pinnedSince) =>
        lastUsed >= pinnedSince || _pulls.Noted(repository, digest) >= pinnedSince;

    /// <summary>The pulls noted in memory, written first so the order is by the true last pull; a failed write is looked at again per manifest.</summary>
    private async Task FlushPullsAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _pulls.FlushAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or Microsoft.Data.Sqlite.SqliteException)
        {
            Log.FlushFailed(_logger, ex.Message); // the notes stay in memory, and each manifest's is checked before it goes
        }
    }

    /// <summary>
    /// The marked manifests, least recently used first: the later of their last pull and their fetch; and the last pulls
    /// read for them (by repository), which retention's <c>keepPulledWithin</c> looks at for a referrers-schema tag.
    /// </summary>
    private (List<(string Repository, Digest Digest, DateTimeOffset LastUsed)> Candidates, PullsByRepository Pulls) Candidates()
    {
        var pulls = new PullsByRepository(_store);
        var list = new List<(string Repository, Digest Digest, DateTimeOffset LastUsed)>();
        foreach (var (repository, digest, fetched) in _content.All())
        {
            var pulled = pulls.Of(repository, digest.ToString());
            list.Add((repository, digest, pulled > fetched.ToUnixTimeMilliseconds() ? DateTimeOffset.FromUnixTimeMilliseconds(pulled) : fetched));
        }

        return ([.. list.OrderBy(c => c.LastUsed).ThenBy(c => c.Repository, StringComparer.Ordinal).ThenBy(c => c.Digest.ToString(), StringComparer.Ordinal)], pulls);
    }

    /// <summary>The last pulls of each repository, read from the store once on first ask (Unix ms; <see cref="long.MinValue"/>: never pulled).</summary>
    private sealed class PullsByRepository(RegistryStore store)
    {
        private readonly Dictionary<string, Dictionary<string, long>> _byRepository = new(StringComparer.Ordinal);

        public long Of(string repository, string digest)
        {
            if (!_byRepository.TryGetValue(repository, out var pulls))
            {
                _byRepository[repository] = pulls = store.GetLastPulls(repository).ToDictionary(p => p.Key.ToString(), p => p.Value.ToUnixTimeMilliseconds(), StringComparer.Ordinal);
            }

            return pulls.TryGetValue(digest, out var at) ? at : long.MinValue;
        }
    }

    private void Report(EvictionResult result, DateTimeOffset started)
    {
        var now = _time.GetUtcNow();
        _state.SetEvicted(new EvictionStatus(now, result.Manifests.Count, result.Bytes));
        _metrics?.ContentEvicted(result.Manifests.Count, result.Bytes);
        Log.Evicted(_logger, result.Manifests.Count, result.Bytes, result.Check.FreeBytes, result.Check.EvictBelowFreeBytes, (now - started).TotalMilliseconds);
        _events?.Publish(new RegistryEvent(EventTypes.ContentEvicted, now)
        {
            Message = $"evicted {result.Manifests.Count} manifests fetched on demand ({result.Bytes} bytes), least recently pulled first: the data volume was below storage.evictBelowFreeBytes",
            Data = new Dictionary<string, object?>
            {
                ["manifests"] = result.Manifests.Count,
                ["bytes"] = result.Bytes,
                ["freeBytes"] = result.Check.FreeBytes,
                ["evictBelowFreeBytes"] = result.Check.EvictBelowFreeBytes,
                ["lastPulled"] = result.Manifests[^1].LastUsed,
            },
        });
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4130, Level = LogLevel.Information, Message = "Evicted {Manifests} manifests fetched on demand ({Bytes} bytes freed); {Free} bytes free, eviction mark {Mark}; {Milliseconds} ms")]
        public static partial void Evicted(ILogger logger, int manifests, long bytes, long free, long mark, double milliseconds);

        [LoggerMessage(EventId = 4131, Level = LogLevel.Debug, Message = "Evicted {Repository}@{Digest} (tags {Tags}), last pulled {LastUsed:o}: {Bytes} bytes freed")]
        public static partial void ManifestEvicted(ILogger logger, string repository, string digest, string tags, DateTimeOffset lastUsed, long bytes);

        [LoggerMessage(EventId = 4132, Level = LogLevel.Warning, Message = "The data volume has {Free} bytes free, below the eviction mark {Mark}, and nothing fetched on demand may be evicted ({Pinned} manifests pulled within storage.pinPulledWithin)")]
        public static partial void NothingLeft(ILogger logger, long free, long mark, int pinned);

        [LoggerMessage(EventId = 4133, Level = LogLevel.Warning, Message = "Writing the pull times before an eviction failed: {Reason}")]
        public static partial void FlushFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 4134, Level = LogLevel.Warning, Message = "Evicting content fetched on demand failed; tried again at the next reading below the mark")]
        public static partial void Failed(ILogger logger, Exception exception);
    }
}

/// <summary>One manifest evicted: where, which tags pointed at it, when it was last pulled (or fetched), the blob bytes freed with it.</summary>
public sealed record EvictedManifest(string Repository, Digest Digest, IReadOnlyList<string> Tags, DateTimeOffset LastUsed, long Bytes);

/// <summary>An eviction run: the manifests evicted in order, the bytes freed, the last reading, and whether the volume is still below the mark.</summary>
public sealed record EvictionResult(IReadOnlyList<EvictedManifest> Manifests, long Bytes, SpaceCheck Check, bool StillBelowMark);
