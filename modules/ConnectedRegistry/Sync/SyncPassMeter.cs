using System.Collections.Concurrent;
using System.Diagnostics;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Sync;

/// <summary>
/// What one sync-down pass has done so far, and its progress and ETA in <see cref="ModuleState"/> (at most every
/// <see cref="SyncOptions.ProgressInterval"/> unless forced). Thread-safe: repositories, tags and blobs of a pass
/// count here at the same time. The ETA is the bytes still to fetch over the download rate of the pass so far.
/// </summary>
public sealed class SyncPassMeter
{
    private readonly ModuleState _module;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly Lock _reportGate = new();
    private DateTimeOffset _lastReport = DateTimeOffset.MinValue;
    private long _bytesDone;
    private long _bytesTotal;
    private long _bytesDownloaded;
    private int _blobsFetched;
    private int _manifestsStored;
    private int _repositoriesDone;
    private int _tagsUpdated;
    private int _tagsRemoved;

    private readonly RegistryMetrics? _metrics;

    /// <param name="metrics">The module's metrics, which count fetched blobs and bytes across passes.</param>
    public SyncPassMeter(ModuleState module, TimeSpan interval, TimeProvider time, RegistryMetrics? metrics = null)
    {
        _metrics = metrics;
        _module = module;
        _interval = interval;
        _time = time;
    }

    public int RepositoriesTotal { get; set; }

    public int RepositoriesDone => Volatile.Read(ref _repositoriesDone);

    public long BytesDownloaded => Interlocked.Read(ref _bytesDownloaded);

    public int BlobsFetched => Volatile.Read(ref _blobsFetched);

    public int ManifestsStored => Volatile.Read(ref _manifestsStored);

    public int TagsUpdated => Volatile.Read(ref _tagsUpdated);

    public int TagsRemoved => Volatile.Read(ref _tagsRemoved);

    /// <summary>What failed without ending the pass (a repository, a tag), as <c>what: why</c>.</summary>
    public ConcurrentQueue<string> Failures { get; } = new();

    public void RepositoryDone()
    {
        Interlocked.Increment(ref _repositoriesDone);
        Report("Running");
    }

    public void TagsChanged(int updated, int removed)
    {
        Interlocked.Add(ref _tagsUpdated, updated);
        Interlocked.Add(ref _tagsRemoved, removed);
    }

    /// <summary>
    /// Counts what the work started from here on (in this asynchronous flow) stores and fetches apart from the rest of the
    /// pass, for one repository's log line: repositories are synced in parallel, so the pass's totals mix them.
    /// A blob two repositories share is counted for the one whose flow fetched it.
    /// </summary>
    public RepositoryCounts BeginRepository()
    {
        var counts = new RepositoryCounts(this);
        Current.Value = counts;
        return counts;
    }

    private static readonly AsyncLocal<RepositoryCounts?> Current = new();

    /// <summary>The counts of the repository this flow syncs, when they are this meter's (another pass's meter may have joined the download).</summary>
    private RepositoryCounts? Repository => Current.Value is { } counts && counts.Meter == this ? counts : null;

    public void ManifestStored()
    {
        Interlocked.Increment(ref _manifestsStored);
        if (Repository is { } repository)
        {
            Interlocked.Increment(ref repository.Manifests);
        }
    }

    /// <summary>Called with the repository a download started from and its blob once it is stored (on-demand fetch counts with it).</summary>
    public Action<string, Descriptor>? Stored { get; init; }

    /// <summary>The blob of a download this meter joined is stored; the download started from <paramref name="repository"/>.</summary>
    public void BlobFetched(string repository, Descriptor blob)
    {
        BlobFetched();
        Stored?.Invoke(repository, blob);
    }

    public void BlobFetched()
    {
        Interlocked.Increment(ref _blobsFetched);
        if (Repository is { } repository)
        {
            Interlocked.Increment(ref repository.Blobs);
        }

        _metrics?.SyncBlobFetched();
    }

    /// <summary>A blob of <paramref name="bytes"/> is going to be fetched.</summary>
    public void BlobPlanned(long bytes) => Interlocked.Add(ref _bytesTotal, bytes);

    /// <summary>Bytes of a blob that are stored without downloading them now (a resume), or taken back (negative) when they are dropped.</summary>
    public void BytesCounted(long bytes) => Interlocked.Add(ref _bytesDone, bytes);

    /// <summary>Bytes that arrived from the parent.</summary>
    public void BytesDownloadedNow(long bytes)
    {
        Interlocked.Add(ref _bytesDownloaded, bytes);
        Interlocked.Add(ref _bytesDone, bytes);
        if (Repository is { } repository)
        {
            Interlocked.Add(ref repository.Bytes, bytes);
        }

        _metrics?.SyncBytesFetched(bytes);
        Report("Running");
    }

    /// <summary>Publishes the pass's progress in <paramref name="state"/> (Running, Paused, Failed, Completed, CompletedWithErrors).</summary>
    public void Report(string state, bool force = false)
    {
        var now = _time.GetUtcNow();
        lock (_reportGate)
        {
            if (!force && now - _lastReport < _interval)
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
        _module.UpdateSync(s => s with { Progress = progress });
    }
}

/// <summary>What one repository's sync stored and fetched (<see cref="SyncPassMeter.BeginRepository"/>).</summary>
public sealed class RepositoryCounts(SyncPassMeter meter)
{
    /// <summary>The meter these counts belong to: a download another pass's meter joined counts only for its own.</summary>
    internal SyncPassMeter Meter { get; } = meter;

    internal int Manifests;
    internal int Blobs;
    internal long Bytes;

    public int ManifestsStored => Volatile.Read(ref Manifests);

    public int BlobsFetched => Volatile.Read(ref Blobs);

    public long BytesDownloaded => Interlocked.Read(ref Bytes);
}
