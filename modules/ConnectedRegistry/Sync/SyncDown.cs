using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Polly.CircuitBreaker;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Sync down: makes the local registry hold what the parent holds for the repositories in the subset.
/// Several repositories at a time (<see cref="SyncOptions.ParallelRepositories"/>), for each it lists the parent's
/// tags, HEADs each to compare digests, and copies what is missing: child manifests of an index first, their
/// configs and layers (several blobs at a time, never a blob that is already stored in any repository, resuming a
/// partial blob with <c>Range</c>), then the manifest itself with its tag in one transaction — so a tag never points
/// at incomplete content — then referrers of what it synced. Tags removed or repointed at the parent follow.
/// Progress goes into <see cref="ModuleState"/> every few seconds.
/// </summary>
public sealed partial class SyncDown
{
    private const int MaxDepth = 4;
    private readonly RegistryStore _store;
    private readonly SyncStateStore _syncState;
    private readonly SyncOutbox _outbox;
    private readonly ModuleState _module;
    private readonly SyncOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<SyncDown> _logger;
    private readonly ISyncChangeSink[] _changes;

    private readonly RegistryMetrics? _metrics;

    public SyncDown(RegistryStore store, SyncStateStore syncState, SyncOutbox outbox, ModuleState module, SyncOptions options, TimeProvider time, ILogger<SyncDown> logger, IEnumerable<ISyncChangeSink>? changes = null, RegistryMetrics? metrics = null)
    {
        _metrics = metrics;
        _changes = [.. changes ?? []];
        _store = store;
        _syncState = syncState;
        _outbox = outbox;
        _module = module;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Runs one pass over the subset. Throws when the parent is unreachable; content errors are collected in the result.</summary>
    public async Task<SyncDownResult> RunAsync(ParentRegistryClient parent, RegistrySettings settings, CancellationToken cancellationToken)
    {
        // The first failure that ends the pass (parent unreachable, disk error) stops the other repositories too.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pass = new Pass(this, parent, settings, stop.Token);
        var repositories = await ResolveRepositoriesAsync(parent, settings, cancellationToken);
        pass.RepositoriesTotal = repositories.Count;
        pass.Report("Running", force: true);
        Exception? failure = null;
        using var repositorySlots = new SemaphoreSlim(Math.Max(1, _options.ParallelRepositories));
        await Task.WhenAll(repositories.Select(async repository =>
        {
            try
            {
                await repositorySlots.WaitAsync(stop.Token);
                try
                {
                    await pass.SyncRepositoryAsync(repository);
                }
                finally
                {
                    repositorySlots.Release();
                }

                pass.RepositoryDone();
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // the pass was cancelled (window closed) or another repository ended it
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref failure, ex, null);
                await stop.CancelAsync();
            }
        }));

        if (cancellationToken.IsCancellationRequested)
        {
            pass.Report("Paused", force: true);
            cancellationToken.ThrowIfCancellationRequested();
        }

        if (failure is not null)
        {
            pass.Report("Failed", force: true);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }

        pass.Report(pass.Failures.IsEmpty ? "Completed" : "CompletedWithErrors", force: true);
        return new SyncDownResult(repositories, pass.BytesDownloaded, pass.BlobsFetched, pass.ManifestsStored, pass.TagsUpdated, pass.TagsRemoved, [.. pass.Failures]);
    }

    /// <summary>
    /// The subset: the registry's own <c>sync.repositories</c> plus every child's repositories. Exact names are
    /// taken as they are; <c>prefix/*</c> (any depth) and <c>*</c> are resolved against the parent's catalog when
    /// the parent allows listing it, else only the exact names are synced.
    /// </summary>
    internal async Task<IReadOnlyList<string>> ResolveRepositoriesAsync(ParentRegistryClient parent, RegistrySettings settings, CancellationToken cancellationToken)
    {
        var patterns = settings.Sync.Repositories
            .Concat(settings.Children.Values.SelectMany(c => c.Repositories))
            .Select(p => p.Trim())
            .Where(p => p.Length > 0)
            .Distinct(StringComparer.Ordinal)
            .ToList();
        var result = new SortedSet<string>(patterns.Where(RepositoryName.IsValid), StringComparer.Ordinal);
        var prefixes = patterns.Where(IsWildcard).Select(p => p == "*" ? string.Empty : p[..^1]).ToList();
        if (prefixes.Count == 0)
        {
            return [.. result];
        }

        try
        {
            foreach (var name in await parent.CatalogAsync(cancellationToken))
            {
                if (RepositoryName.IsValid(name) && prefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal)))
                {
                    result.Add(name);
                }
            }
        }
        catch (ParentRegistryException ex) when ((int)ex.Status is >= 400 and < 500)
        {
            Log.CatalogUnavailable(_logger, (int)ex.Status);
        }

        return [.. result];
    }

    /// <summary>Tells the change sinks (the change feed for children) about a tag sync moved; they must not throw, but never fail a pass.</summary>
    private void Changed(Action<ISyncChangeSink> notify)
    {
        foreach (var sink in _changes)
        {
            try
            {
                notify(sink);
            }
            catch (Exception ex)
            {
                Log.ChangeSinkFailed(_logger, ex, sink.GetType().Name);
            }
        }
    }

    private static bool IsWildcard(string pattern) =>
        pattern == "*" || (pattern.EndsWith("/*", StringComparison.Ordinal) && RepositoryName.IsValid(pattern[..^2]));

    /// <summary>Errors that say the parent is unreachable (end the pass) rather than that one item is bad.</summary>
    internal static bool IsUnreachable(Exception ex) =>
        ex is HttpRequestException or BrokenCircuitException or IOException or TimeoutException ||
        ex is ParentRegistryException { Status: HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout };

    /// <summary>One pass: its counters, its blob slots, and its de-duplication of blobs in flight.</summary>
    private sealed class Pass
    {
        private readonly SyncDown _owner;
        private readonly ParentRegistryClient _parent;
        private readonly RegistrySettings _settings;
        private readonly CancellationToken _cancel;
        private readonly SemaphoreSlim _blobSlots;
        private readonly ConcurrentDictionary<Digest, Lazy<Task>> _blobsInFlight = new();
        private readonly long _started;
        private readonly Lock _reportGate = new();
        private DateTimeOffset _lastReport = DateTimeOffset.MinValue;
        private bool? _referrersApi;
        private long _bytesDone;
        private long _bytesTotal;
        private long _bytesDownloaded;
        private int _blobsFetched;
        private int _manifestsStored;
        private int _repositoriesDone;
        private int _tagsUpdated;
        private int _tagsRemoved;

        public Pass(SyncDown owner, ParentRegistryClient parent, RegistrySettings settings, CancellationToken cancellationToken)
        {
            _owner = owner;
            _parent = parent;
            _settings = settings;
            _cancel = cancellationToken;
            _blobSlots = new SemaphoreSlim(Math.Max(1, owner._options.ParallelBlobs));
            _started = Stopwatch.GetTimestamp();
        }

        public int RepositoriesTotal { get; set; }

        public int RepositoriesDone => Volatile.Read(ref _repositoriesDone);

        public long BytesDownloaded => Interlocked.Read(ref _bytesDownloaded);

        public int BlobsFetched => Volatile.Read(ref _blobsFetched);

        public int ManifestsStored => Volatile.Read(ref _manifestsStored);

        public int TagsUpdated => Volatile.Read(ref _tagsUpdated);

        public int TagsRemoved => Volatile.Read(ref _tagsRemoved);

        public void RepositoryDone()
        {
            Interlocked.Increment(ref _repositoriesDone);
            Report("Running");
        }

        public ConcurrentQueue<string> Failures { get; } = new();

        public async Task SyncRepositoryAsync(string repository)
        {
            var started = Stopwatch.GetTimestamp();
            var bytesBefore = BytesDownloaded;
            var blobsBefore = BlobsFetched;
            var manifestsBefore = ManifestsStored;
            IReadOnlyList<string>? listed;
            try
            {
                listed = await _parent.ListTagsAsync(repository, _cancel);
            }
            catch (Exception ex) when (ex is ParentRegistryException or ParentContentException or Newtonsoft.Json.JsonException && !IsUnreachable(ex))
            {
                // This repository alone (no read permission, a name the parent refuses, a bad listing): the others go on.
                Failures.Enqueue($"{repository}: {ex.Message}");
                Log.RepositoryFailed(_owner._logger, repository, ex.Message);
                return;
            }

            var parentTags = (listed ?? []).Where(Tag.IsValid).Distinct(StringComparer.Ordinal).ToList();
            var local = _owner._store.ListTags(repository).ToDictionary(t => t.Tag, t => t.Digest, StringComparer.Ordinal);
            var synced = _owner._syncState.SyncedTags(repository);
            var updated = 0;
            var failed = 0;

            using var tagSlots = new SemaphoreSlim(Math.Max(1, _owner._options.ParallelTags));
            await Task.WhenAll(parentTags.Select(async tag =>
            {
                await tagSlots.WaitAsync(_cancel);
                try
                {
                    if (await SyncTagAsync(repository, tag, local.GetValueOrDefault(tag), synced.TryGetValue(tag, out var s) ? s : null))
                    {
                        Interlocked.Increment(ref updated);
                    }
                }
                catch (Exception ex) when (!IsUnreachable(ex) && ex is not OperationCanceledException and not LocalStorageException)
                {
                    Interlocked.Increment(ref failed);
                    Failures.Enqueue($"{repository}:{tag}: {ex.Message}");
                    Log.TagFailed(_owner._logger, repository, tag, ex.Message);
                }
                finally
                {
                    tagSlots.Release();
                }
            }));

            // Tags gone from the parent: remove the ones sync put there (in a ReadOnly registry every tag came from sync).
            var removed = 0;
            var parentSet = parentTags.ToHashSet(StringComparer.Ordinal);
            foreach (var (tag, digest) in local)
            {
                if (parentSet.Contains(tag) || _owner._outbox.HasPendingTag(repository, tag))
                {
                    continue;
                }

                var fromSync = synced.TryGetValue(tag, out var syncedDigest) && syncedDigest == digest;
                if (fromSync || _settings.Mode == RegistryMode.ReadOnly)
                {
                    await LocalAsync(() => _owner._store.DeleteTagAsync(repository, tag, _cancel));
                    await LocalAsync(() => _owner._syncState.Forget(repository, tag));
                    _owner.Changed(sink => sink.TagRemoved(repository, tag));
                    removed++;
                }
            }

            Interlocked.Add(ref _tagsUpdated, updated);
            Interlocked.Add(ref _tagsRemoved, removed);
            if (updated + removed + failed > 0)
            {
                Log.RepositorySynced(_owner._logger, repository, parentTags.Count, updated, removed, failed,
                    ManifestsStored - manifestsBefore, BlobsFetched - blobsBefore, BytesDownloaded - bytesBefore,
                    Stopwatch.GetElapsedTime(started).TotalSeconds);
            }
            else
            {
                Log.RepositoryUnchanged(_owner._logger, repository, parentTags.Count);
            }
        }

        /// <summary>Brings one tag up to date; true when it moved.</summary>
        private async Task<bool> SyncTagAsync(string repository, string tag, Digest? localDigest, Digest? syncedDigest)
        {
            if (_owner._outbox.HasPendingTag(repository, tag))
            {
                return false; // a local push of this tag waits for delivery: it wins until it reached the parent
            }

            var head = await _parent.HeadManifestAsync(repository, tag, _cancel);
            if (head is null)
            {
                return false; // removed between listing and now: the next pass removes it here too
            }

            if (localDigest == head.Digest)
            {
                if (syncedDigest != head.Digest)
                {
                    await LocalAsync(() => _owner._syncState.SetSynced(repository, tag, head.Digest));
                }

                await SyncReferrersAsync(repository, head.Digest, 0);
                return false;
            }

            var manifest = await _parent.GetManifestAsync(repository, head.Digest.ToString(), _cancel)
                ?? throw new ParentContentException($"manifest {head.Digest} vanished from the parent");
            await EnsureContentAsync(repository, manifest, 0);
            await LocalAsync(() => _owner._store.PutManifestAsync(repository, manifest.Bytes, manifest.MediaType, tag, manifest.Digest, _cancel));
            Interlocked.Increment(ref _manifestsStored);
            await LocalAsync(() => _owner._syncState.SetSynced(repository, tag, manifest.Digest));
            _owner.Changed(sink => sink.TagSynced(repository, tag, manifest.Digest));
            await SyncReferrersAsync(repository, manifest.Digest, 0);
            return true;
        }

        /// <summary>Stores everything <paramref name="manifest"/> references (not the manifest itself): child manifests, then blobs.</summary>
        private async Task EnsureContentAsync(string repository, ManifestContent manifest, int depth)
        {
            if (depth > MaxDepth)
            {
                throw new ParentContentException("manifests nest too deep");
            }

            var parsed = manifest.Parse();
            await Task.WhenAll(parsed.Manifests.Select(child => EnsureManifestAsync(repository, child.Digest, depth + 1)));
            await Task.WhenAll(parsed.RequiredBlobs.Select(blob => EnsureBlobAsync(repository, blob)));
        }

        /// <summary>Stores a manifest (by digest) and everything it references, unless the repository already holds it.</summary>
        private async Task EnsureManifestAsync(string repository, Digest digest, int depth)
        {
            if (_owner._store.GetManifest(repository, Reference.FromDigest(digest)) is not null)
            {
                return; // stored manifests are complete: the store refuses one whose references are missing
            }

            var manifest = await _parent.GetManifestAsync(repository, digest.ToString(), _cancel)
                ?? throw new ParentContentException($"manifest {digest} is referenced but the parent does not have it");
            await EnsureContentAsync(repository, manifest, depth);
            await LocalAsync(() => _owner._store.PutManifestAsync(repository, manifest.Bytes, manifest.MediaType, null, manifest.Digest, _cancel));
            Interlocked.Increment(ref _manifestsStored);
        }

        /// <summary>Referrers (signatures, SBOMs) of <paramref name="subject"/>, and theirs in turn.</summary>
        private async Task SyncReferrersAsync(string repository, Digest subject, int depth)
        {
            if (_referrersApi == false || depth > 1)
            {
                return; // without the API, the referrers tag schema's sha256-… tags travel as ordinary tags
            }

            var referrers = await _parent.ReferrersAsync(repository, subject, _cancel, useTagSchema: false);
            if (referrers is null)
            {
                _referrersApi = false;
                return;
            }

            _referrersApi = true;
            foreach (var referrer in referrers)
            {
                if (_owner._store.GetManifest(repository, Reference.FromDigest(referrer.Digest)) is null)
                {
                    await EnsureManifestAsync(repository, referrer.Digest, 1);
                    await SyncReferrersAsync(repository, referrer.Digest, depth + 1);
                }
            }
        }

        private Task EnsureBlobAsync(string repository, Descriptor blob)
        {
            if (_owner._store.BlobExists(blob.Digest))
            {
                return Task.CompletedTask; // never fetched twice, whichever repository has it; storing the manifest links it
            }

            return _blobsInFlight.GetOrAdd(blob.Digest, _ => new Lazy<Task>(() => FetchBlobAsync(repository, blob))).Value;
        }

        private async Task FetchBlobAsync(string repository, Descriptor blob)
        {
            await _blobSlots.WaitAsync(_cancel);
            try
            {
                if (_owner._store.BlobExists(blob.Digest))
                {
                    return;
                }

                Interlocked.Add(ref _bytesTotal, blob.Size);
                var counted = 0L;
                Exception? last = null;
                for (var attempt = 1; attempt <= Math.Max(1, _owner._options.BlobAttempts); attempt++)
                {
                    var offset = _owner._store.GetPartialBlobLength(blob.Digest);
                    if (offset > blob.Size)
                    {
                        _owner._store.DeletePartialBlob(blob.Digest);
                        offset = 0;
                    }

                    if (attempt == 1 && offset > 0)
                    {
                        Interlocked.Add(ref _bytesDone, offset);
                        counted = offset;
                        Log.BlobResumed(_owner._logger, blob.Digest.ToString(), offset, blob.Size);
                    }

                    try
                    {
                        if (offset < blob.Size || blob.Size == 0)
                        {
                            await using var download = await _parent.GetBlobAsync(repository, blob.Digest, offset, _cancel);
                            if (download.Offset < counted)
                            {
                                Interlocked.Add(ref _bytesDone, download.Offset - counted); // Range not honoured: start over
                                counted = download.Offset;
                            }

                            var content = new CountingStream(download.Content, blob.Size - download.Offset, n =>
                            {
                                Interlocked.Add(ref _bytesDownloaded, n);
                                _owner._metrics?.SyncBytesFetched(n);
                                Interlocked.Add(ref _bytesDone, n);
                                counted += n;
                                Report("Running");
                            });
                            await LocalAsync(() => _owner._store.AppendPartialBlobAsync(blob.Digest, download.Offset, content, _cancel));
                        }

                        await LocalAsync(() => _owner._store.CommitPartialBlobAsync(repository, blob.Digest, _cancel));
                        Interlocked.Increment(ref _blobsFetched);
                        _owner._metrics?.SyncBlobFetched();
                        Log.BlobFetched(_owner._logger, blob.Digest.ToString(), blob.Size);
                        return;
                    }
                    catch (OciException ex) when (ex.Error.Code == OciErrorCode.DigestInvalid.Code)
                    {
                        // The partial file was deleted by the store; the next attempt starts from 0.
                        Interlocked.Add(ref _bytesDone, -counted);
                        counted = 0;
                        last = new ParentContentException($"blob {blob.Digest} from the parent did not match its digest");
                        Log.BlobCorrupt(_owner._logger, blob.Digest.ToString(), attempt);
                    }
                    catch (ParentContentException ex)
                    {
                        _owner._store.DeletePartialBlob(blob.Digest);
                        Interlocked.Add(ref _bytesDone, -counted);
                        counted = 0;
                        last = ex;
                        Log.BlobCorrupt(_owner._logger, blob.Digest.ToString(), attempt);
                    }
                    catch (Exception ex) when (IsUnreachable(ex) && !_cancel.IsCancellationRequested)
                    {
                        last = ex; // the bytes that arrived stay in the partial file
                        Log.BlobInterrupted(_owner._logger, blob.Digest.ToString(), _owner._store.GetPartialBlobLength(blob.Digest), ex.Message);
                        if (ex is BrokenCircuitException)
                        {
                            break;
                        }
                    }

                    if (attempt < _owner._options.BlobAttempts)
                    {
                        await Task.Delay(_owner._options.BlobRetryPause, _owner._time, _cancel);
                    }
                }

                throw last ?? new ParentContentException($"blob {blob.Digest} could not be fetched");
            }
            finally
            {
                _blobSlots.Release();
            }
        }

        /// <summary>A write to the local store or sync.db: a disk error becomes <see cref="LocalStorageException"/>, which ends the pass.</summary>
        private static async Task LocalAsync(Func<Task> write)
        {
            try
            {
                await write();
            }
            catch (Exception ex) when (LocalStorageException.IsDiskError(ex))
            {
                throw new LocalStorageException(ex);
            }
        }

        private static Task LocalAsync(Action write) => LocalAsync(() =>
        {
            write();
            return Task.CompletedTask;
        });

        public void Report(string state, bool force = false)
        {
            var now = _owner._time.GetUtcNow();
            lock (_reportGate)
            {
                if (!force && now - _lastReport < _owner._options.ProgressInterval)
                {
                    return;
                }

                _lastReport = now;
            }

            var done = Math.Max(0, Interlocked.Read(ref _bytesDone));
            var total = Math.Max(done, Interlocked.Read(ref _bytesTotal));
            var elapsed = Stopwatch.GetElapsedTime(_started).TotalSeconds;
            var rate = elapsed > 0 ? BytesDownloaded / elapsed : 0;
            long? eta = state == "Running" && rate > 0 ? (long)Math.Ceiling((total - done) / rate) : null;
            var progress = new SyncProgress(state, RepositoriesDone, RepositoriesTotal, done, total, eta);
            _owner._module.UpdateSync(s => s with { Progress = progress });
        }
    }

    /// <summary>
    /// Counts bytes as they are read, and refuses more than the descriptor's size. A failed read of the parent's
    /// stream becomes <see cref="ParentReadException"/>, so that the store's write errors stay told apart from it.
    /// </summary>
    private sealed class CountingStream(Stream inner, long limit, Action<int> onRead) : Stream
    {
        private long _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            try
            {
                return Counted(inner.Read(buffer, offset, count));
            }
            catch (Exception ex) when (IsReadFailure(ex))
            {
                throw new ParentReadException(ex);
            }
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                return Counted(await inner.ReadAsync(buffer, cancellationToken));
            }
            catch (Exception ex) when (IsReadFailure(ex))
            {
                throw new ParentReadException(ex);
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private static bool IsReadFailure(Exception ex) => ex is IOException or HttpRequestException && ex is not ParentReadException;

        private int Counted(int n)
        {
            _read += n;
            if (_read > limit)
            {
                throw new ParentContentException("blob from the parent is larger than its descriptor says");
            }

            if (n > 0)
            {
                onRead(n);
            }

            return n;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4040, Level = LogLevel.Information, Message = "Synced {Repository}: {Tags} tags at the parent, {Updated} updated, {Removed} removed, {Failed} failed; {Manifests} manifests, {Blobs} blobs, {Bytes} bytes in {Seconds:0.0} s")]
        public static partial void RepositorySynced(ILogger logger, string repository, int tags, int updated, int removed, int failed, int manifests, int blobs, long bytes, double seconds);

        [LoggerMessage(EventId = 4047, Level = LogLevel.Debug, Message = "{Repository} is up to date ({Tags} tags)")]
        public static partial void RepositoryUnchanged(ILogger logger, string repository, int tags);

        [LoggerMessage(EventId = 4048, Level = LogLevel.Error, Message = "Sync change sink {Sink} failed")]
        public static partial void ChangeSinkFailed(ILogger logger, Exception exception, string sink);

        [LoggerMessage(EventId = 4041, Level = LogLevel.Warning, Message = "Could not sync {Repository}:{Tag}: {Reason}")]
        public static partial void TagFailed(ILogger logger, string repository, string tag, string reason);

        [LoggerMessage(EventId = 4049, Level = LogLevel.Warning, Message = "Could not list the tags of {Repository} at the parent: {Reason}")]
        public static partial void RepositoryFailed(ILogger logger, string repository, string reason);

        [LoggerMessage(EventId = 4042, Level = LogLevel.Information, Message = "The parent does not allow listing its catalog ({Status}); wildcards in the subset are skipped, exact names are synced")]
        public static partial void CatalogUnavailable(ILogger logger, int status);

        [LoggerMessage(EventId = 4043, Level = LogLevel.Debug, Message = "Fetched blob {Digest} ({Size} bytes)")]
        public static partial void BlobFetched(ILogger logger, string digest, long size);

        [LoggerMessage(EventId = 4044, Level = LogLevel.Debug, Message = "Resuming blob {Digest} at {Offset} of {Size} bytes")]
        public static partial void BlobResumed(ILogger logger, string digest, long offset, long size);

        [LoggerMessage(EventId = 4045, Level = LogLevel.Warning, Message = "Blob {Digest} from the parent did not match its digest (attempt {Attempt}); discarded")]
        public static partial void BlobCorrupt(ILogger logger, string digest, int attempt);

        [LoggerMessage(EventId = 4046, Level = LogLevel.Debug, Message = "Blob {Digest} interrupted at {Stored} bytes: {Reason}")]
        public static partial void BlobInterrupted(ILogger logger, string digest, long stored, string reason);
    }
}

/// <summary>What one sync-down pass did.</summary>
public sealed record SyncDownResult(
    IReadOnlyList<string> Repositories,
    long BytesDownloaded,
    int BlobsFetched,
    int ManifestsStored,
    int TagsUpdated,
    int TagsRemoved,
    IReadOnlyList<string> Failures);
