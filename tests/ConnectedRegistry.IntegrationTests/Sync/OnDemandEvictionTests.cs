using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Newtonsoft.Json.Linq;
using Xunit.Abstractions;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// Eviction of the on-demand cache against real parts: a docker-registry parent, this module as the child fetching on
/// demand (its schedule never opens; tests run passes themselves), a fake clock for the pull times, real SQLite files
/// and real blob files. The eviction mark is set above any volume's free bytes, so what goes is decided by the order
/// and the rules alone (the tmpfs tests show the mark itself).
/// </summary>
public sealed class OnDemandEvictionTests(ITestOutputHelper output)
{
    private static readonly SyncSettings OnlyStable = SyncHarness.Idle with
    {
        Filters = [new SyncFilterSettings { Repositories = ["apps/*"], IncludeTags = "^stable$" }],
    };

    private static StorageSettings EvictEverything(TimeSpan pin) => new() { EvictBelowFreeBytes = long.MaxValue, PinPulledWithin = pin };

    [Fact]
    public async Task The_least_recently_pulled_go_first_and_pinned_synced_and_locally_pushed_content_stays()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await SyncHarness.StartAsync(configureChild: b => b.Services.AddSingleton<TimeProvider>(time), childArgs: ["--events", EventsFile(out var events)]);
        h.Configure(["apps/*"], OnlyStable, storage: EvictEverything(TimeSpan.FromDays(1)));
        var content = h.Child.App.Services.GetRequiredService<OnDemandContent>();
        var eviction = h.Child.App.Services.GetRequiredService<OnDemandEviction>();
        var runs = new System.Collections.Concurrent.ConcurrentQueue<EvictionResult>();
        eviction.Evicted += runs.Enqueue; // the maintenance tick's reading starts runs too (the mark is above the volume)
        var images = new Dictionary<string, TestBlob>();
        var layers = new Dictionary<string, TestBlob>();
        foreach (var name in new[] { "a", "b", "c", "d" })
        {
            layers[name] = h.Layout.Layer(200_000 + name[0]);
            images[name] = await h.PushImageToParentAsync($"apps/{name}", layers[name]);
        }

        // apps/kept:stable is selected by the sync filter; v1 of the others is not.
        var keptLayer = h.Layout.Layer(150_000);
        var kept = h.Layout.Image("amd64", keptLayer);
        h.Layout.Tag(kept, "kept");
        await h.Parent.PushAsync(h.Layout.Directory, "kept", "apps/kept", "stable");

        // Fetched on demand an hour apart: kept first (the oldest of all), then a, b, c, d; a pulled again last.
        var start = time.GetUtcNow();
        await PullOnDemandAsync(h, content, "apps/kept", "stable");
        foreach (var name in new[] { "a", "b", "c", "d" })
        {
            time.Advance(TimeSpan.FromHours(1));
            await PullOnDemandAsync(h, content, $"apps/{name}", "v1");
        }

        time.Advance(TimeSpan.FromHours(1));
        await PullAsync(h, "apps/a", "v1"); // from the store now: a pull, noted in memory, flushed by the eviction

        // A pass keeps apps/kept:stable (the sync set selects it): no longer evictable. A client tags c (a local push,
        // waiting for delivery): c is the client's now.
        await h.RunPassAsync();
        Assert.False(content.IsMarked("apps/kept", kept.Digest));
        using (var tagged = await h.Child.Client.PutManifestAsync("apps/c", "mine", images["c"]))
        {
            Assert.Equal(HttpStatusCode.Created, tagged.StatusCode);
        }

        Assert.False(content.IsMarked("apps/c", images["c"].Digest));
        Assert.True(h.Child.App.Services.GetRequiredService<IPendingPushes>().HasPendingTag("apps/c", "mine"));

        // A day and 4.5 hours after the start: a (pulled at 5 h) is pinned for the day; b (2 h) and d (4 h) may go.
        time.Advance(TimeSpan.FromDays(1) - TimeSpan.FromHours(0.5));
        await eviction.EvictAsync(CancellationToken.None);
        var result = Assert.Single(runs);

        Assert.Equal(["apps/b", "apps/d"], result.Manifests.Select(m => m.Repository));
        Assert.Equal([["v1"], ["v1"]], result.Manifests.Select(m => m.Tags));
        Assert.Equal([Stored(start + TimeSpan.FromHours(2)), Stored(start + TimeSpan.FromHours(4))], result.Manifests.Select(m => m.LastUsed));
        Assert.True(result.StillBelowMark, "the mark is above any volume: everything evictable went");
        Assert.InRange(result.Bytes, layers["b"].Size + layers["d"].Size, layers["b"].Size + layers["d"].Size + 2048); // the layers and their configs
        foreach (var name in new[] { "b", "d" })
        {
            Assert.Null(h.Store.GetManifest($"apps/{name}", "v1"));
            Assert.Null(h.Store.GetManifest($"apps/{name}", images[name].Digest.ToString()));
            Assert.False(h.Store.BlobExists(layers[name].Digest));
        }

        foreach (var (repository, tag, digest) in new[] { ("apps/a", "v1", images["a"].Digest), ("apps/c", "v1", images["c"].Digest), ("apps/c", "mine", images["c"].Digest), ("apps/kept", "stable", kept.Digest) })
        {
            Assert.Equal(digest, h.Store.GetManifest(repository, tag)?.Digest);
        }

        Assert.True(h.Store.BlobExists(layers["a"].Digest) && h.Store.BlobExists(layers["c"].Digest) && h.Store.BlobExists(keptLayer.Digest));
        Assert.Equal(1, h.Child.App.Services.GetRequiredService<SyncOutbox>().Count()); // eviction is no client change: nothing goes up
        var reported = h.State.Snapshot().Evicted;
        Assert.Equal(new EvictionStatus(time.GetUtcNow(), 2, result.Bytes), reported);

        // Once a's pin is over, a goes too; the others stay whatever the clock.
        time.Advance(TimeSpan.FromDays(2));
        await eviction.EvictAsync(CancellationToken.None);
        Assert.Equal(2, runs.Count);
        Assert.Equal(["apps/a"], runs.Last().Manifests.Select(m => m.Repository));
        Assert.Equal(images["c"].Digest, h.Store.GetManifest("apps/c", "v1")?.Digest);
        Assert.Equal(kept.Digest, h.Store.GetManifest("apps/kept", "stable")?.Digest);
        Assert.Empty((await eviction.EvictAsync(CancellationToken.None)).Manifests);
        Assert.Equal(2, runs.Count);

        // Evicted content comes back on demand: the parent is reachable, so a pull of b is whole again.
        await PullOnDemandAsync(h, content, "apps/b", "v1");
        var layer = await h.Child.Client.GetByteArrayAsync($"/v2/apps/b/blobs/{layers["b"].Digest}");
        Assert.Equal(layers["b"].Digest, Digest.Compute(layer));
        await Poll.UntilAsync(() => h.Store.BlobExists(layers["b"].Digest), "b's layer stored again");

        await Poll.UntilAsync(() => File.Exists(events) && File.ReadLines(events).Count(l => l.Contains("\"ContentEvicted\"", StringComparison.Ordinal)) == 2, "two ContentEvicted events");
        var first = JObject.Parse(File.ReadLines(events).First(l => l.Contains("\"ContentEvicted\"", StringComparison.Ordinal)));
        Assert.Equal(2, (int)first.SelectToken("$..manifests")!);
        Assert.Equal(result.Bytes, (long)first.SelectToken("$..bytes")!);
        StoreVerifier.Verify(h.Child.DataRoot);
    }

    /// <summary>
    /// Issue 22: content fetched on demand and not kept by the sync set <b>or a retention rule</b> is evicted. The rules of
    /// <c>storage.retention</c> hold what they keep (<c>keepTags</c>, <c>keepPulledWithin</c>, <c>keepNewest</c>); the rest
    /// goes; once a rule no longer keeps a tag (removed, or its pull aged out), that content goes too.
    /// </summary>
    [Fact]
    public async Task What_a_retention_rule_keeps_is_not_evicted()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await SyncHarness.StartAsync(configureChild: b => b.Services.AddSingleton<TimeProvider>(time));
        RetentionRule[] rules =
        [
            new() { Repositories = ["apps/*"], KeepTags = "^stable$" },
            new() { Repositories = ["apps/recent"], KeepPulledWithin = TimeSpan.FromDays(1) },
            new() { Repositories = ["apps/newest"], KeepNewest = 1 },
            new() { Repositories = ["apps/plain"], UntaggedAfter = TimeSpan.FromDays(1) }, // no tag criterion: keeps nothing from eviction
        ];
        var storage = EvictEverything(TimeSpan.FromHours(1)) with { Retention = new RetentionSettings { Rules = rules } };
        h.Configure(["apps/*"], storage: storage);
        var settings = h.Child.App.Services.GetRequiredService<RegistrySettingsStore>();
        // No scheduled retention pass on the fake clock (it would remove what the rules do not keep before eviction does).
        settings.Apply(settings.Current with { GarbageCollection = settings.Current.GarbageCollection with { Schedule = "0 0 1 1 *" } });
        var content = h.Child.App.Services.GetRequiredService<OnDemandContent>();
        var eviction = h.Child.App.Services.GetRequiredService<OnDemandEviction>();
        var runs = new System.Collections.Concurrent.ConcurrentQueue<EvictionResult>();
        eviction.Evicted += runs.Enqueue;

        var digests = new Dictionary<string, Digest>(StringComparer.Ordinal);
        async Task FetchAsync(string repository, string tag, int size)
        {
            var image = h.Layout.Image("amd64", h.Layout.Layer(size));
            var name = $"{repository.Replace('/', '-')}-{tag}";
            h.Layout.Tag(image, name);
            await h.Parent.PushAsync(h.Layout.Directory, name, repository, tag);
            await PullOnDemandAsync(h, content, repository, tag);
            digests[$"{repository}:{tag}"] = image.Digest;
            time.Advance(TimeSpan.FromMinutes(1)); // each tag newer than the one before
        }

        await FetchAsync("apps/stable", "stable", 10_001);
        await FetchAsync("apps/newest", "v1", 10_002);
        await FetchAsync("apps/newest", "v2", 10_003);
        await FetchAsync("apps/recent", "v1", 10_004);
        await FetchAsync("apps/plain", "v1", 10_005);
        time.Advance(TimeSpan.FromHours(1));
        await PullAsync(h, "apps/recent", "v1"); // pulled again: past the pin of an hour later, within keepPulledWithin

        // Three hours on: every pin is over. The rules keep stable, the newest of apps/newest and the recent pull.
        time.Advance(TimeSpan.FromHours(2));
        await eviction.EvictAsync(CancellationToken.None);
        string[] kept = ["apps/stable:stable", "apps/newest:v2", "apps/recent:v1"];
        Assert.Equal(["apps/newest:v1", "apps/plain:v1"], runs.SelectMany(r => r.Manifests).Select(m => $"{m.Repository}:{Assert.Single(m.Tags)}").Order(StringComparer.Ordinal));
        foreach (var name in kept)
        {
            var (repository, tag) = (name[..name.IndexOf(':', StringComparison.Ordinal)], name[(name.IndexOf(':', StringComparison.Ordinal) + 1)..]);
            Assert.Equal(digests[name], h.Store.GetManifest(repository, tag)?.Digest);
            Assert.True(content.IsMarked(repository, digests[name]), $"{name} is still content fetched on demand: held by a rule, not taken from the cache");
        }

        Assert.Null(h.Store.GetManifest("apps/plain", "v1"));
        Assert.Null(h.Store.GetManifest("apps/newest", digests["apps/newest:v1"].ToString()));

        // Without the keepTags rule, stable goes; a day and a half on, the recent pull is no longer recent and it goes too.
        settings.Apply(settings.Current with { Storage = storage with { Retention = new RetentionSettings { Rules = rules[1..] } } });
        await eviction.EvictAsync(CancellationToken.None);
        await Poll.UntilAsync(() => h.Store.GetManifest("apps/stable", "stable") is null, "apps/stable:stable evicted once no rule keeps it");
        Assert.NotNull(h.Store.GetManifest("apps/recent", "v1"));
        time.Advance(TimeSpan.FromDays(1.5));
        await eviction.EvictAsync(CancellationToken.None);
        Assert.Null(h.Store.GetManifest("apps/recent", "v1"));
        Assert.Equal(digests["apps/newest:v2"], h.Store.GetManifest("apps/newest", "v2")?.Digest); // the newest of its repository, whatever the clock
        StoreVerifier.Verify(h.Child.DataRoot);
    }

    /// <summary>
    /// The cause of the skipped-then-fixed eviction-order test: a garbage collection (the cron of the same fake clock)
    /// running between an eviction's removal of a manifest and its deletion of the blobs deleted them first, and the
    /// eviction reported 0 bytes for that manifest. Collections run back to back while 40 manifests are evicted: every
    /// manifest must report exactly its own layer and config.
    /// </summary>
    [Fact]
    public async Task An_eviction_racing_garbage_collection_reports_exactly_the_bytes_it_freed()
    {
        const int Images = 40;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var registry = await RegistryInstance.StartAsync(extraArgs: ["--gc-grace", "00:00:00"], configure: b => b.Services.AddSingleton<TimeProvider>(time));
        try
        {
            var content = registry.App.Services.GetRequiredService<OnDemandContent>();
            var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
            for (var i = 0; i < Images; i++)
            {
                var repository = $"race/img{i:D2}";
                var image = TestContent.Image($"eviction-gc-race-{i}", layers: 1, layerSize: 50_000 + i);
                await registry.Client.PushImageAsync(repository, "v1", image);
                content.Mark(repository, image.Manifest.Digest); // as on-demand fetch leaves it (a push took the mark: set again)
                sizes[repository] = image.Blobs.Sum(b => b.Size);
            }

            var runs = new System.Collections.Concurrent.ConcurrentQueue<EvictionResult>();
            var eviction = registry.App.Services.GetRequiredService<OnDemandEviction>();
            eviction.Evicted += runs.Enqueue;
            var collector = registry.App.Services.GetRequiredService<IGarbageCollector>();
            using var stop = new CancellationTokenSource();
            var collections = BackToBackCollections.RunAsync(collector, stop.Token);

            time.Advance(TimeSpan.FromDays(2));
            var settings = registry.App.Services.GetRequiredService<RegistrySettingsStore>();
            settings.Apply(settings.Current with { Storage = EvictEverything(TimeSpan.FromDays(1)) }); // the background loop starts too
            await eviction.EvictAsync(CancellationToken.None);
            await Poll.UntilAsync(() => runs.Sum(r => r.Manifests.Count) == Images, "every manifest evicted");
            await stop.CancelAsync();
            output.WriteLine($"{await collections} collections ran during {runs.Count} eviction runs");

            var evicted = runs.SelectMany(r => r.Manifests).ToList();
            var wrong = evicted.Where(m => m.Bytes != sizes[m.Repository]).Select(m => $"{m.Repository}: {m.Bytes} of {sizes[m.Repository]}").ToList();
            Assert.True(wrong.Count == 0, $"{wrong.Count} of {Images} evictions reported other bytes than they freed: {string.Join("; ", wrong)}");
            Assert.Equal(sizes.Values.Sum(), runs.Sum(r => r.Bytes));
            StoreVerifier.Verify(registry.DataRoot);
        }
        finally
        {
            registry.DeleteData();
        }
    }

    [Fact]
    public async Task A_pull_racing_an_eviction_gets_the_whole_blob_or_a_clean_404_before_any_byte()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await SyncHarness.StartAsync(configureChild: b => b.Services.AddSingleton<TimeProvider>(time));
        var pinned = new StorageSettings { PinPulledWithin = TimeSpan.FromDays(1) };
        h.Configure(["apps/*"], storage: pinned);
        var content = h.Child.App.Services.GetRequiredService<OnDemandContent>();
        var layer = h.Layout.Layer(16 * 1024 * 1024);
        await h.PushImageToParentAsync("apps/big", layer);
        await PullOnDemandAsync(h, content, "apps/big", "v1");
        await Poll.UntilAsync(() => h.Store.IsBlobInRepository("apps/big", layer.Digest), "the layer stored");
        var path = $"/v2/apps/big/blobs/{layer.Digest}";

        // The parent goes away (what was evicted cannot come back), the pin is over, and a slow reader is midway.
        await h.Parent.StopAsync();
        time.Advance(TimeSpan.FromDays(2));
        using var midway = await h.Child.Client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, midway.StatusCode);
        var stream = await midway.Content.ReadAsStreamAsync();
        var head = new byte[1024 * 1024];
        await stream.ReadExactlyAsync(head);

        // Eviction from now on (the mark above any volume), with eight more readers racing it.
        var eviction = h.Child.App.Services.GetRequiredService<OnDemandEviction>();
        h.Configure(["apps/*"], storage: pinned with { EvictBelowFreeBytes = long.MaxValue });
        var racing = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            await Task.Delay(i * 40); // the first ones read while the eviction runs, the last ones come after it
            return await ReadSlowlyAsync(h.Child.Client, path);
        })).ToList();
        await Task.Delay(100);
        await eviction.EvictAsync(CancellationToken.None);
        await Poll.UntilAsync(() => !h.Store.BlobExists(layer.Digest), "the layer evicted");

        // The reader that had the file open reads it whole: the deleted file lives on until it is closed.
        using var rest = new MemoryStream();
        rest.Write(head);
        await stream.CopyToAsync(rest);
        Assert.Equal(layer.Digest, Digest.Compute(rest.ToArray()));

        // Each racing reader got the whole blob or a 404 envelope before any byte of it; none a body cut off midway.
        var outcomes = await Task.WhenAll(racing);
        outcomes = [.. outcomes, await ReadSlowlyAsync(h.Child.Client, path)]; // after the eviction: the parent is gone
        foreach (var (status, body) in outcomes)
        {
            if (status == HttpStatusCode.OK)
            {
                Assert.Equal(layer.Digest, Digest.Compute(body));
            }
            else
            {
                Assert.Equal(HttpStatusCode.NotFound, status);
                Assert.Equal("BLOB_UNKNOWN", (string?)JObject.Parse(System.Text.Encoding.UTF8.GetString(body))["errors"]![0]!["code"]);
            }
        }

        Assert.Equal(HttpStatusCode.NotFound, outcomes[^1].Status);
        output.WriteLine($"racing readers: {outcomes.Count(o => o.Status == HttpStatusCode.OK)} whole blobs, {outcomes.Count(o => o.Status == HttpStatusCode.NotFound)} clean 404s");
        StoreVerifier.Verify(h.Child.DataRoot);
    }

    [Fact]
    public async Task On_a_small_volume_the_oldest_pulls_go_when_free_space_falls_below_the_mark_and_no_write_is_refused()
    {
        const long mib = 1024 * 1024;
        await using var volume = await TmpfsVolume.MountAsync("eviction", 48);
        var storage = new StorageSettings { MinFreeBytes = 4 * mib, EvictBelowFreeBytes = 16 * mib, PinPulledWithin = TimeSpan.FromSeconds(1) };
        await using var h = await SyncHarness.StartAsync(childDataRoot: Path.Combine(volume.Path, "data"), configureChild: b =>
            b.Services.AddSingleton(new StorageOptions { StatusInterval = TimeSpan.FromMilliseconds(500), GarbageCollectionGrace = TimeSpan.Zero }));
        h.Configure(["apps/*"], storage: storage);
        var content = h.Child.App.Services.GetRequiredService<OnDemandContent>();
        var evicted = new System.Collections.Concurrent.ConcurrentQueue<EvictedManifest>();
        h.Child.App.Services.GetRequiredService<OnDemandEviction>().Evicted += r => { foreach (var m in r.Manifests) { evicted.Enqueue(m); } };

        // Ten images of 4 MiB, fetched on demand one after another (each pinned for a second only): 40 MiB on a 48 MiB
        // volume that is to keep 16 MiB free.
        var order = new List<string>();
        var lowest = long.MaxValue;
        for (var i = 0; i < 10; i++)
        {
            var repository = $"apps/img{i}";
            var layer = h.Layout.Layer(4 * 1024 * 1024, seed: i + 1);
            await h.PushImageToParentAsync(repository, layer);
            await PullOnDemandAsync(h, content, repository, "v1");
            await Poll.UntilAsync(() => h.Store.BlobExists(layer.Digest), $"{repository}'s layer stored");
            order.Add(repository);
            lowest = Math.Min(lowest, volume.FreeBytes);
            await Task.Delay(1100);
        }

        await Poll.UntilAsync(() => volume.FreeBytes >= storage.EvictBelowFreeBytes, "free space back above the mark");

        // The oldest went first, as few as were needed; the newest are here; nothing was refused on the way.
        var gone = evicted.Select(m => m.Repository).ToList();
        Assert.InRange(gone.Count, 2, 5);
        Assert.Equal(order.Take(gone.Count), gone);
        foreach (var repository in order.Skip(gone.Count))
        {
            Assert.NotNull(h.Store.GetManifest(repository, "v1"));
        }

        Assert.True(lowest >= storage.MinFreeBytes, $"the volume stayed above the minimum: {lowest} bytes free at the lowest");
        Assert.DoesNotContain(h.State.Snapshot().StatusDetails, d => d.Code == FreeSpaceGuard.DiskFullCode);
        Assert.NotNull(h.State.Snapshot().Evicted);
        output.WriteLine($"evicted {gone.Count} of {order.Count} images; lowest free {lowest / mib} MiB (minimum 4, mark 16); {volume.FreeBytes / mib} MiB free at the end");
        StoreVerifier.Verify(h.Child.DataRoot);
    }

    [Fact]
    public async Task A_kill_in_the_middle_of_an_eviction_leaves_no_tag_pointing_at_missing_content()
    {
        const int Images = 500;
        var dataRoot = TempDirectory.Create("eviction-crash");
        try
        {
            // Content as on-demand fetch leaves it: manifests with tags and blobs, each marked as fetched on demand (long
            // ago, never pulled since). Pushed locally here for speed, then marked while the registry is stopped.
            await using (var seed = await RegistryInstance.StartAsync(dataRoot))
            {
                for (var i = 0; i < Images; i++)
                {
                    await seed.Client.PushImageAsync($"crash/img{i % 10}", $"t{i}", TestContent.Image($"eviction-crash-{i}"));
                }
            }

            var registryDb = Path.Combine(dataRoot, "registry.db");
            var syncDb = Path.Combine(dataRoot, SyncStateStore.FileName);
            TestDatabase.Execute(syncDb, $"ATTACH DATABASE '{registryDb}' AS r; INSERT INTO on_demand(repository, digest, fetched) SELECT repository, digest, 0 FROM r.manifests; DETACH DATABASE r;");
            File.WriteAllText(Path.Combine(dataRoot, "twin", "desired.json"), """{ "schemaVersion": "1.0", "storage": { "evictBelowFreeBytes": 9000000000000000000, "pinPulledWithin": "PT1S" } }""");
            Assert.Equal(Images, TestDatabase.Scalar(registryDb, "SELECT COUNT(*) FROM manifests"));

            // The first reading of the volume starts the eviction; SIGKILL once it is under way.
            long remaining;
            using (var registry = await RegistryProcess.StartAsync(dataRoot, ["--gc-grace", "00:00:00"]))
            {
                await Poll.UntilAsync(() => TestDatabase.Scalar(registryDb, "SELECT COUNT(*) FROM manifests") < Images, "the eviction under way");
                registry.KillHard();
            }

            remaining = TestDatabase.Scalar(registryDb, "SELECT COUNT(*) FROM manifests");
            output.WriteLine($"killed with {remaining} of {Images} manifests left");
            Assert.InRange(remaining, 1, Images - 1);
            StoreVerifier.Verify(dataRoot);
            Assert.Equal(0, TestDatabase.Scalar(registryDb, "SELECT COUNT(*) FROM tags t WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository=t.repository AND m.digest=t.digest)"));
            TestDatabase.Execute(syncDb, $"ATTACH DATABASE '{registryDb}' AS r; CREATE TABLE kept AS SELECT COUNT(*) AS n FROM r.manifests m WHERE EXISTS (SELECT 1 FROM on_demand o WHERE o.repository=m.repository AND o.digest=m.digest); DETACH DATABASE r;");
            Assert.Equal(remaining, TestDatabase.Scalar(syncDb, "SELECT n FROM kept")); // no manifest left here lost its mark

            // Restarted, it finishes: every marked manifest goes, and the marks the kill left behind with them.
            using (var registry = await RegistryProcess.StartAsync(dataRoot, ["--gc-grace", "00:00:00"]))
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                await Poll.UntilAsync(() => TestDatabase.Scalar(registryDb, "SELECT COUNT(*) FROM manifests") == 0, "the eviction finished after the restart", TimeSpan.FromSeconds(60));
                output.WriteLine($"the restarted registry evicted the other {remaining} in {clock.Elapsed.TotalSeconds:0.0} s");
                await Poll.UntilAsync(() => TestDatabase.Scalar(syncDb, "SELECT COUNT(*) FROM on_demand") == 0, "no mark left");
                using var gone = await registry.Client.GetAsync("/v2/crash/img0/manifests/t0");
                Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
            }

            StoreVerifier.Verify(dataRoot);
        }
        finally
        {
            TempDirectory.Delete(dataRoot);
        }
    }

    /// <summary>A GET read in 64 KiB pieces with a pause between them; a body cut off midway throws.</summary>
    private static async Task<(HttpStatusCode Status, byte[] Body)> ReadSlowlyAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var body = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            body.Write(buffer, 0, read);
            await Task.Delay(1);
        }

        Assert.Equal(response.Content.Headers.ContentLength ?? body.Length, body.Length);
        return (response.StatusCode, body.ToArray());
    }

    private static DateTimeOffset Stored(DateTimeOffset time) => DateTimeOffset.FromUnixTimeMilliseconds(time.ToUnixTimeMilliseconds());

    private static string EventsFile(out string path)
    {
        path = Path.Combine(TempDirectory.Create("eviction-events"), "events.jsonl");
        return path;
    }

    /// <summary>A client's GET of a manifest the child does not have: fetched on demand, then stored in the background and marked.</summary>
    internal static async Task PullOnDemandAsync(SyncHarness h, OnDemandContent content, string repository, string tag)
    {
        var digest = await PullAsync(h, repository, tag);
        await Poll.UntilAsync(() => content.IsMarked(repository, digest), $"{repository}:{tag} stored and marked as fetched on demand");
    }

    internal static async Task<Digest> PullAsync(SyncHarness h, string repository, string tag)
    {
        using var response = await h.Child.Client.GetAsync($"/v2/{repository}/manifests/{tag}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return Digest.Parse(response.Headers.GetValues("Docker-Content-Digest").Single());
    }
}
