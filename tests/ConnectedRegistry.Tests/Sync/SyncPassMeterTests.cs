using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Tests.Sync;

/// <summary>
/// A pass syncs repositories in parallel: each repository's log line counts what its own flow stored and fetched
/// (including the downloads it started on other tasks), while the pass's totals count everything.
/// </summary>
public sealed class SyncPassMeterTests
{
    [Fact]
    public async Task Repositories_synced_at_the_same_time_count_only_their_own_work()
    {
        var meter = new SyncPassMeter(new ModuleState(), TimeSpan.FromHours(1), TimeProvider.System);
        using var bothStarted = new Barrier(2);

        async Task<RepositoryCounts> Repository(int manifests, int blobs, long bytesEach)
        {
            await Task.Yield();
            var counts = meter.BeginRepository();
            bothStarted.SignalAndWait(TimeSpan.FromSeconds(10));
            for (var i = 0; i < manifests; i++)
            {
                meter.ManifestStored();
            }

            // Blob downloads run on tasks of their own, started from the repository's flow (as BlobDownloads does).
            await Task.WhenAll(Enumerable.Range(0, blobs).Select(_ => Task.Run(async () =>
            {
                await Task.Yield();
                meter.BytesDownloadedNow(bytesEach);
                meter.BlobFetched();
            })));
            return counts;
        }

        var results = await Task.WhenAll(Task.Run(() => Repository(3, 5, 1000)), Task.Run(() => Repository(7, 2, 10)));

        Assert.Equal((3, 5, 5000L), (results[0].ManifestsStored, results[0].BlobsFetched, results[0].BytesDownloaded));
        Assert.Equal((7, 2, 20L), (results[1].ManifestsStored, results[1].BlobsFetched, results[1].BytesDownloaded));
        Assert.Equal((10, 7, 5020L), (meter.ManifestsStored, meter.BlobsFetched, meter.BytesDownloaded));
    }

    [Fact]
    public async Task Work_after_a_repository_finished_is_not_counted_for_it()
    {
        var meter = new SyncPassMeter(new ModuleState(), TimeSpan.FromHours(1), TimeProvider.System);

        async Task<RepositoryCounts> Repository()
        {
            await Task.Yield();
            var counts = meter.BeginRepository();
            meter.ManifestStored();
            return counts;
        }

        var counts = await Repository();
        meter.ManifestStored(); // the caller's flow: the pass's, not the repository's
        meter.BytesDownloadedNow(42);

        Assert.Equal((1, 0L), (counts.ManifestsStored, counts.BytesDownloaded));
        Assert.Equal((2, 42L), (meter.ManifestsStored, meter.BytesDownloaded));
    }

    [Fact]
    public void Another_meter_joined_to_the_same_download_does_not_count_for_the_repository()
    {
        var pass = new SyncPassMeter(new ModuleState(), TimeSpan.FromHours(1), TimeProvider.System);
        var onDemand = new SyncPassMeter(new ModuleState(), TimeSpan.FromHours(1), TimeProvider.System);
        var counts = pass.BeginRepository();

        // A download started in this repository's flow announces its bytes to every meter that joined it.
        pass.BytesDownloadedNow(100);
        onDemand.BytesDownloadedNow(100);
        onDemand.BlobFetched();

        Assert.Equal((0, 100L), (counts.BlobsFetched, counts.BytesDownloaded));
        Assert.Equal((1, 100L), (onDemand.BlobsFetched, onDemand.BytesDownloaded));
    }
}
