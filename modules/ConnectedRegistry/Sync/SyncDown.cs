using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Sync down: makes the local registry hold what the parent holds for the repositories of the <see cref="SyncSet"/>.
/// One pass resolves the set, then syncs several repositories at a time (<see cref="SyncOptions.ParallelRepositories"/>)
/// through <see cref="TagSync"/>; their blobs share the pass's <see cref="BlobFetcher"/>
/// (<see cref="SyncOptions.BlobSlots"/> at a time: 8 without a bandwidth cap, 4 under one, unless given), whose downloads are the host's one <see cref="BlobDownloads"/>
/// (one download per digest, shared with on-demand fetch). Progress goes into
/// <see cref="ModuleState"/> through the pass's <see cref="SyncPassMeter"/>.
/// </summary>
public sealed partial class SyncDown
{
    private readonly ISyncDestination _local;
    private readonly TagSync _tags;
    private readonly ModuleState _module;
    private readonly SyncOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<SyncDown> _logger;

    private readonly RegistryMetrics? _metrics;
    private readonly BlobDownloads _downloads;
    private readonly LinkThrottle? _link;

    /// <param name="link">The parent link's bandwidth cap, read when a pass starts to choose its blob slots (none: uncapped).</param>
    public SyncDown(ISyncDestination local, TagSync tags, ModuleState module, SyncOptions options, TimeProvider time, ILogger<SyncDown> logger, BlobDownloads downloads, RegistryMetrics? metrics = null, LinkThrottle? link = null)
    {
        _link = link;
        _downloads = downloads;
        _metrics = metrics;
        _local = local;
        _tags = tags;
        _module = module;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Runs one pass over the sync set. Throws when the parent is unreachable; content errors are collected in the result.</summary>
    public async Task<SyncDownResult> RunAsync(IParentRegistry parent, RegistrySettings settings, CancellationToken cancellationToken)
    {
        // The first failure that ends the pass (parent unreachable, disk error) stops the other repositories too.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var meter = new SyncPassMeter(_module, _options.ProgressInterval, _time, _metrics);
        // The slots are chosen once per pass: a cap that arrives mid-pass paces the bytes at once and the slots from the next pass.
        using var blobs = new BlobFetcher(_local, _options, _time, _logger, meter, _downloads, _options.BlobSlots(capped: _link?.LimitBitsPerSecond is not null));
        var set = SyncSet.Of(settings);
        var pass = new SyncPass(parent, blobs, meter, settings.Mode, stop.Token) { Set = set };
        var repositories = await set.ResolveAsync(parent, _logger, cancellationToken);
        meter.RepositoriesTotal = repositories.Count;
        meter.Report("Running", force: true);
        var failure = await SyncRepositoriesAsync(pass, repositories, stop);
        if (cancellationToken.IsCancellationRequested)
        {
            meter.Report("Paused", force: true);
            cancellationToken.ThrowIfCancellationRequested();
        }

        if (failure is not null)
        {
            meter.Report("Failed", force: true);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }

        meter.Report(meter.Failures.IsEmpty ? "Completed" : "CompletedWithErrors", force: true);
        return new SyncDownResult(repositories, meter.BytesDownloaded, meter.BlobsFetched, meter.ManifestsStored, meter.TagsUpdated, meter.TagsRemoved, [.. meter.Failures]);
    }

    /// <summary>Syncs the repositories, several at a time; returns the failure that ended the pass, if one did.</summary>
    private async Task<Exception?> SyncRepositoriesAsync(SyncPass pass, IReadOnlyList<string> repositories, CancellationTokenSource stop)
    {
        Exception? failure = null;
        using var repositorySlots = new SemaphoreSlim(Math.Max(1, _options.ParallelRepositories));
        await Task.WhenAll(repositories.Select(async repository =>
        {
            try
            {
                await repositorySlots.WaitAsync(stop.Token);
                try
                {
                    await _tags.SyncRepositoryAsync(pass, repository);
                }
                finally
                {
                    repositorySlots.Release();
                }

                pass.Meter.RepositoryDone();
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
        return failure;
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
