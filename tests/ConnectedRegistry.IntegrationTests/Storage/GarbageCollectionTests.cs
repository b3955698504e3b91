using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using ConnectedRegistry.IntegrationTests.Distribution;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>Garbage collection, upload purging and storage statistics, with time driven by a fake clock.</summary>
public sealed class GarbageCollectionTests : IAsyncLifetime
{
    private readonly ObservedTimeProvider _time = new(DateTimeOffset.UtcNow);
    private RegistryInstance _registry = null!;

    private HttpClient Client => _registry.Client;

    private IServiceProvider Services => _registry.App.Services;

    public async Task InitializeAsync()
    {
        _registry = await RegistryInstance.StartAsync(configure: builder => builder.Services.AddSingleton<TimeProvider>(_time));
        Settings(new GarbageCollectionSettings { Enabled = false });
    }

    public async Task DisposeAsync()
    {
        await _registry.DisposeAsync();
        _registry.DeleteData();
    }

    [Fact]
    public async Task Unreferenced_blob_survives_the_grace_period_then_is_collected()
    {
        var blob = new TestBlob(TestContent.Bytes("gc-orphan", 3000), "x");
        await Client.PushBlobAsync("gc/orphan", blob);

        var early = await CollectAsync();
        Assert.Equal(0, early.BlobsDeleted);
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"/v2/gc/orphan/blobs/{blob.Digest}")).StatusCode);

        _time.Advance(TimeSpan.FromHours(2));
        var late = await CollectAsync();

        Assert.Equal(1, late.BlobsDeleted);
        Assert.Equal(3000, late.BytesFreed);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"/v2/gc/orphan/blobs/{blob.Digest}")).StatusCode);
        Assert.Empty(Directory.GetFiles(Path.Combine(_registry.DataRoot, "blobs"), blob.Digest.Hex, SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Referenced_blobs_and_manifests_are_kept()
    {
        var image = TestContent.Image("gc-kept");
        await Client.PushImageAsync("gc/kept", "v1", image);
        Settings(new GarbageCollectionSettings { Enabled = false, DeleteUntaggedManifests = true });

        _time.Advance(TimeSpan.FromHours(2));
        var result = await CollectAsync();

        Assert.Equal(0, result.BlobsDeleted);
        Assert.Equal(0, result.ManifestsDeleted);
        foreach (var blob in image.Blobs)
        {
            Assert.Equal(blob.Bytes, await Client.GetByteArrayAsync($"/v2/gc/kept/blobs/{blob.Digest}"));
        }
    }

    [Fact]
    public async Task Blob_uploaded_long_ago_and_referenced_now_is_kept()
    {
        var image = TestContent.Image("gc-late-manifest");
        foreach (var blob in image.Blobs)
        {
            await Client.PushBlobAsync("gc/late", blob);
        }

        _time.Advance(TimeSpan.FromMinutes(59));
        Assert.Equal(HttpStatusCode.Created, (await Client.PutManifestAsync("gc/late", "v1", image.Manifest)).StatusCode);
        _time.Advance(TimeSpan.FromHours(5));

        Assert.Equal(0, (await CollectAsync()).BlobsDeleted);
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"/v2/gc/late/blobs/{image.Layers[0].Digest}")).StatusCode);
    }

    [Fact]
    public async Task Untagged_manifests_are_collected_only_when_configured()
    {
        var old = TestContent.Image("gc-untagged-old");
        var current = TestContent.Image("gc-untagged-new");
        await Client.PushImageAsync("gc/untagged", "latest", old);
        await Client.PushImageAsync("gc/untagged", "latest", current);
        _time.Advance(TimeSpan.FromHours(2));

        var kept = await CollectAsync();
        Assert.Equal(0, kept.ManifestsDeleted);
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"/v2/gc/untagged/manifests/{old.Manifest.Digest}")).StatusCode);

        Settings(new GarbageCollectionSettings { Enabled = false, DeleteUntaggedManifests = true });
        var collected = await CollectAsync();

        Assert.Equal(1, collected.ManifestsDeleted);
        Assert.Equal(3, collected.BlobsDeleted);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"/v2/gc/untagged/manifests/{old.Manifest.Digest}")).StatusCode);
        Assert.Equal(current.Manifest.Bytes, await Client.GetByteArrayAsync("/v2/gc/untagged/manifests/latest"));
    }

    [Fact]
    public async Task Children_of_a_tagged_index_and_referrers_of_a_kept_subject_survive()
    {
        Settings(new GarbageCollectionSettings { Enabled = false, DeleteUntaggedManifests = true });
        var child = TestContent.Image("gc-child");
        await Client.PushImageAsync("gc/index", child.Manifest.Digest.ToString(), child);
        var index = TestContent.Index([(child, "amd64")]);
        Assert.Equal(HttpStatusCode.Created, (await Client.PutManifestAsync("gc/index", "multi", index)).StatusCode);
        var signature = TestContent.Artifact("gc-sig", "application/vnd.example.sig", index);
        await Client.PushImageAsync("gc/index", signature.Manifest.Digest.ToString(), signature);
        _time.Advance(TimeSpan.FromHours(2));

        Assert.Equal(0, (await CollectAsync()).ManifestsDeleted);

        Assert.Equal(HttpStatusCode.Accepted, (await Client.DeleteAsync("/v2/gc/index/manifests/multi")).StatusCode);
        var collected = await CollectAsync();
        Assert.Equal(3, collected.ManifestsDeleted); // index, then its child and its referrer
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"/v2/gc/index/manifests/{child.Manifest.Digest}")).StatusCode);
    }

    [Fact]
    public async Task Scheduled_collection_runs_at_the_cron_time()
    {
        var collector = Services.GetRequiredService<GarbageCollector>();
        var ran = new TaskCompletionSource<GarbageCollectionResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        collector.Collected += result => ran.TrySetResult(result);
        var blob = new TestBlob(TestContent.Bytes("gc-scheduled", 100), "x");
        await Client.PushBlobAsync("gc/scheduled", blob);
        _time.Advance(TimeSpan.FromHours(2));

        var now = _time.GetUtcNow();
        var at = now.AddMinutes(10);
        Settings(new GarbageCollectionSettings { Enabled = true, Schedule = $"{at.Minute} {at.Hour} * * *" });
        var scheduler = Services.GetRequiredService<GarbageCollectionScheduler>();
        await Poll.UntilAsync(() => scheduler.NextRun is { } next && next > now, "the next collection scheduled");
        var due = new DateTimeOffset(at.Year, at.Month, at.Day, at.Hour, at.Minute, 0, TimeSpan.Zero);
        Assert.Equal(due, scheduler.NextRun);
        await Poll.UntilAsync(() => _time.IsArmedAt(due), "the scheduler's timer armed for the next collection");

        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.True(_time.IsArmedAt(due)); // five minutes fired nothing of the scheduler's: it still waits for the cron time
        Assert.False(ran.Task.IsCompleted);

        _time.Advance(TimeSpan.FromMinutes(6));
        var result = await ran.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, result.BlobsDeleted);
    }

    [Fact]
    public async Task Expired_upload_sessions_are_purged()
    {
        var location = await RegistryHttp.StartUploadAsync(Client, "gc/uploads");
        var fresh = await RegistryHttp.StartUploadAsync(Client, "gc/uploads");
        _time.Advance(TimeSpan.FromHours(23));
        await RegistryHttp.PatchUploadAsync(Client, fresh, new byte[10], 0);
        _time.Advance(TimeSpan.FromHours(2));

        // The housekeeping timer may already have purged it as the clock moved; purge explicitly too.
        var purged = await Services.GetRequiredService<UploadSessionStore>().PurgeAsync(TimeSpan.FromDays(1), CancellationToken.None);

        Assert.InRange(purged, 0, 1);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync(location)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.GetAsync(fresh)).StatusCode);
        Assert.False(Directory.Exists(Path.Combine(_registry.DataRoot, "uploads", location.Split('/')[^1])));
    }

    [Fact]
    public async Task Storage_section_of_module_state_follows_pushes_and_collection()
    {
        var state = Services.GetRequiredService<ModuleState>();
        var image = TestContent.Image("gc-stats");
        await Client.PushImageAsync("gc/stats", "v1", image);
        var orphan = new TestBlob(TestContent.Bytes("gc-stats-orphan", 1234), "x");
        await Client.PushBlobAsync("gc/stats-orphan", orphan);
        var expectedBytes = image.Blobs.Sum(b => b.Size) + orphan.Size;

        await Poll.UntilAsync(() => state.Snapshot().Storage.Blobs == 4 || Advance(TimeSpan.FromSeconds(31)), "4 blobs counted by the storage refresh");
        var storage = state.Snapshot().Storage;
        Assert.Equal(expectedBytes, storage.UsedBytes);
        Assert.Equal(1, storage.Repositories);
        Assert.True(storage.FreeBytes > 0);

        _time.Advance(TimeSpan.FromHours(2));
        await CollectAsync();
        await Poll.UntilAsync(() => state.Snapshot().Storage.Blobs == 3, "3 blobs counted");
        Assert.Equal(expectedBytes - orphan.Size, state.Snapshot().Storage.UsedBytes);
    }

    private Task<GarbageCollectionResult> CollectAsync() =>
        Services.GetRequiredService<IGarbageCollector>().CollectAsync(CancellationToken.None);

    private void Settings(GarbageCollectionSettings gc)
    {
        var store = Services.GetRequiredService<RegistrySettingsStore>();
        store.Apply(store.Current with { GarbageCollection = gc });
    }

    /// <summary>Moves the fake clock on and answers false, so a polled condition can step time while it waits.</summary>
    private bool Advance(TimeSpan by)
    {
        _time.Advance(by);
        return false;
    }
}
