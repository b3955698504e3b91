using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>
/// Sync down on a data volume that fills during a pass: the registry's data root is a 40 MiB tmpfs, the parent (another
/// instance, on the ordinary disk) holds more than fits. Every blob download reserves its size with the free-space guard,
/// so the pass stops before the blob that would take the volume below the minimum, not after it (nor at the start of the
/// next pass after an ENOSPC); on-demand misses are refused with 507 once nothing more fits.
/// </summary>
public sealed class FullDiskSyncTests
{
    private const long MinFree = 8L * 1024 * 1024;
    private const int LayerSize = 3 * 1024 * 1024;
    private const int Images = 12;

    [Fact]
    public async Task A_pass_that_fills_the_volume_stops_before_the_blob_that_would_not_fit_and_leaves_nothing_half_written()
    {
        await using var volume = await TmpfsVolume.MountAsync("full-disk-sync", 40);
        var parent = await RegistryInstance.StartAsync();
        try
        {
            await FillAndSyncAsync(volume, parent);
        }
        finally
        {
            await parent.DisposeAsync();
            parent.DeleteData();
        }
    }

    private static async Task FillAndSyncAsync(TmpfsVolume volume, RegistryInstance parent)
    {
        var images = new List<TestImage>();
        for (var i = 0; i < Images; i++)
        {
            var image = TestContent.Image($"full-disk-sync-{i}", layers: 1, layerSize: LayerSize);
            await parent.Client.PushImageAsync($"up/img{i:00}", "1", image);
            images.Add(image);
        }

        // One blob at a time, so the 8 MiB kept free is more than what is under way when the guard says stop.
        await using var registry = await RegistryInstance.StartAsync(volume.Path, configure: b =>
        {
            b.Services.AddSingleton(new SyncOptions { ParallelRepositories = 1, ParallelBlobs = 1, BlobRetryPause = TimeSpan.FromMilliseconds(50) });
            b.Services.AddSingleton(new SyncSchedulerOptions { IdleDelay = TimeSpan.FromMilliseconds(200), RetryDelay = TimeSpan.FromMilliseconds(200) });
        });
        var state = registry.App.Services.GetRequiredService<ModuleState>();
        Assert.True(volume.FreeBytes > Images * (long)LayerSize - MinFree, "the volume has room when the pass starts");
        registry.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(new RegistrySettings
        {
            Name = "full-disk-sync-edge",
            Mode = RegistryMode.ReadOnly,
            Parent = new ParentSettings { Endpoint = parent.BaseAddress },
            Sync = new SyncSettings { Repositories = ["up/*"] },
            Storage = new StorageSettings { MinFreeBytes = MinFree },
        });

        await Poll.UntilAsync(
            () => state.Snapshot() is { ConnectionState: ConnectionStates.Unhealthy } s && s.Sync.LastError?.StartsWith("sync down paused", StringComparison.Ordinal) == true,
            "Unhealthy, paused, once the next blob no longer fits");
        var snapshot = state.Snapshot();
        Assert.StartsWith("sync down paused: the data volume has ", snapshot.Sync.LastError, StringComparison.Ordinal);
        Assert.Contains("below storage.minFreeBytes", snapshot.Sync.LastError, StringComparison.Ordinal);
        Assert.DoesNotContain(snapshot.StatusDetails, d => d.Code == LocalStorageException.StatusCode); // stopped before ENOSPC, not by it

        // What came down is whole and tagged; the rest never started: no partial download, nothing in staging.
        var store = registry.App.Services.GetRequiredService<RegistryStore>();
        var synced = images.Where((image, i) => store.GetManifest($"up/img{i:00}", "1") is not null).Count();
        Assert.InRange(synced, 5, Images - 1); // 40 MiB less the 8 MiB kept free, in 3 MiB images
        Assert.Empty(PartialFiles(volume));
        Assert.True(volume.FreeBytes >= MinFree && volume.FreeBytes < MinFree + LayerSize, $"the guard held, and the next layer did not fit: {volume.FreeBytes} free");
        StoreVerifier.Verify(volume.Path);

        // A client's miss that would be fetched on demand is refused at once with the cause, and nothing is fetched.
        var missing = images.Select((image, i) => (Repository: $"up/img{i:00}", Image: image)).Last(x => !store.BlobExists(x.Image.Layers[0].Digest));
        using var refused = await registry.Client.GetAsync($"/v2/{missing.Repository}/blobs/{missing.Image.Layers[0].Digest}");
        Assert.Equal(HttpStatusCode.InsufficientStorage, refused.StatusCode);
        Assert.Equal("INSUFFICIENT_STORAGE", await refused.ErrorCodeAsync());
        Assert.Empty(PartialFiles(volume));

        // Below the minimum (something else filled the volume), an image manifest that would be fetched and stored on
        // demand is refused as its blobs are, not served and stored below the guard.
        await File.WriteAllBytesAsync(Path.Combine(volume.Path, "other-tenant"), new byte[volume.FreeBytes - MinFree + (512 * 1024)]);
        using var manifest = await registry.Client.GetAsync($"/v2/{missing.Repository}/manifests/1");
        Assert.Equal(HttpStatusCode.InsufficientStorage, manifest.StatusCode);
        Assert.Equal("INSUFFICIENT_STORAGE", await manifest.ErrorCodeAsync());
        await Task.Delay(500); // a store in the background would have begun
        Assert.Null(store.GetManifest(missing.Repository, "1"));
    }

    private static IEnumerable<string> PartialFiles(TmpfsVolume volume)
    {
        var partial = Path.Combine(volume.Path, "partial");
        return Directory.Exists(partial) ? Directory.EnumerateFiles(partial, "*", SearchOption.AllDirectories) : [];
    }
}
