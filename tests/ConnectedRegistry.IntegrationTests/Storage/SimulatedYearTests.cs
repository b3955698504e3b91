using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Newtonsoft.Json.Linq;
using Xunit.Abstractions;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>
/// Issue 22's simulated year, scaled down to run in the suite (<c>bench/year.sh</c> runs the whole year on 2 GiB): a
/// docker-registry parent gets a new release of three repositories every simulated day, a 3-layer image of which one
/// 1–2 MiB layer changes; the site (this module, ReadOnly) syncs <c>factory/*</c> with <c>newest: 10</c> onto a real
/// 88 MiB tmpfs, collects garbage daily (untagged manifests too), and a client pulls the newest release of each
/// repository every day and an old one (outside the newest 10, fetched on demand) every 5th day. A fake clock is
/// advanced a day per release, so pull times, the eviction pin (default 7 days) and the garbage-collection grace
/// (default 1 hour) run on simulated time.
/// </summary>
public sealed class SimulatedYearTests(ITestOutputHelper output)
{
    private const long Mib = 1024 * 1024;
    private const int Days = 40;
    private const int Newest = 10;
    private const int OldEvery = 5;
    private const int VolumeMib = 88;
    private const long MinFree = 8 * Mib;
    private const long Mark = 24 * Mib;
    private const long MarkSlack = 1 * Mib; // what no write announces: the databases and their write-ahead logs
    private static readonly string[] Repositories = ["factory/a", "factory/b", "factory/c"];

    [Fact]
    public async Task Forty_days_of_releases_never_fill_a_small_volume_and_the_newest_ten_pull_with_the_parent_gone()
    {
        var storage = new StorageSettings { MinFreeBytes = MinFree, EvictBelowFreeBytes = Mark }; // pin: the default 7 days
        await using var volume = await TmpfsVolume.MountAsync("year", VolumeMib);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await SyncHarness.StartAsync(childDataRoot: Path.Combine(volume.Path, "data"), configureChild: b => b.Services.AddSingleton<TimeProvider>(time), parentAuth: false);
        h.Configure(["factory/*"], SyncHarness.Idle with { Filters = [new SyncFilterSettings { Repositories = ["factory/*"], Newest = Newest }] }, RegistryMode.ReadOnly, storage: storage);
        h.Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(h.Settings with { GarbageCollection = new GarbageCollectionSettings { DeleteUntaggedManifests = true } });
        var collector = h.Child.App.Services.GetRequiredService<IGarbageCollector>();
        var content = h.Child.App.Services.GetRequiredService<OnDemandContent>();
        var evicted = new System.Collections.Concurrent.ConcurrentQueue<EvictedManifest>();
        var evictionsEnded = new System.Collections.Concurrent.ConcurrentQueue<long>();
        h.Child.App.Services.GetRequiredService<OnDemandEviction>().Evicted += r =>
        {
            evictionsEnded.Enqueue(System.Diagnostics.Stopwatch.GetTimestamp());
            foreach (var m in r.Manifests)
            {
                evicted.Enqueue(m);
            }
        };
        using var parent = ParentPusher(h.Parent);

        // The lowest free space of the whole run, sampled every millisecond: the peak of used bytes, not only the day's end.
        using var sampled = new LowestFree(volume);
        using var belowMark = new LowestFree(volume, Mark - MarkSlack);
        var behind = new List<string>();

        var releases = new Release(parent);
        var statuses = new List<HttpStatusCode>();
        var oldPulls = new List<(string Repository, string Tag)>();
        long collectedBytes = 0;
        var tagsRemoved = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan pushing = default, passes = default;
        var belowMarkDays = 0;
        for (var day = 1; day <= Days; day++)
        {
            time.Advance(TimeSpan.FromDays(1));
            var t0 = clock.Elapsed;
            foreach (var repository in Repositories)
            {
                await releases.PushAsync(repository, day);
            }

            var t1 = clock.Elapsed;
            belowMark.Reset();
            var pass = await h.RunPassAsync(); // a pass that could not store what the parent sent (DiskFull) throws
            var t2 = clock.Elapsed;
            if (belowMark.FirstBelow is { } below)
            {
                belowMarkDays++;
                if (evictionsEnded.Any(ended => ended > below))
                {
                    behind.Add($"day {day}: {belowMark.Bytes / (double)Mib:0.00} MiB free");
                }
            }

            Assert.Empty(pass.Failures);
            tagsRemoved += pass.TagsRemoved;
            collectedBytes += (await collector.CollectAsync(default)).BytesFreed; // the daily garbage collection

            foreach (var repository in Repositories)
            {
                statuses.AddRange(await PullAsync(h.Child.Client, repository, Release.Tag(day)));
            }

            if (day % OldEvery == 0 && day > Newest)
            {
                foreach (var (repository, i) in Repositories.Select((r, i) => (r, i)))
                {
                    var old = Release.Tag(day - Newest - 1 - ((day / OldEvery + i) % 3)); // outside the newest 10: on demand
                    statuses.AddRange(await PullAsync(h.Child.Client, repository, old));
                    var digest = releases.Digest(repository, old);
                    await Poll.UntilAsync(() => content.IsMarked(repository, digest), $"{repository}:{old} stored and marked as fetched on demand");
                    oldPulls.Add((repository, old));
                }
            }

            // Each day ends with the volume above the mark (eviction of what was fetched on demand brings it back).
            await Poll.UntilAsync(() => volume.FreeBytes >= Mark, $"day {day}: free space above the mark ({volume.FreeBytes / Mib} MiB free)", TimeSpan.FromSeconds(15));
            Assert.DoesNotContain(h.State.Snapshot().StatusDetails, d => d.Code == FreeSpaceGuard.DiskFullCode);
            pushing += t1 - t0;
            passes += t2 - t1;
        }

        var lowest = sampled.Bytes;
        var run = clock.Elapsed;

        // The pass's downloads never go below the mark while something may still be evicted: when a pass took the volume
        // below it, no eviction freed anything after that moment of the pass (it ran ahead, before the downloads, or there
        // was nothing left to evict: what is pinned, and the releases the pass counts out, which garbage collection frees
        // after it). Before eviction ran ahead, the run that a low reading woke ended after the bytes had landed.
        Assert.True(behind.Count == 0, $"eviction ran behind a pass's downloads: {string.Join("; ", behind)}");

        // Over the "year": every answer 200 (never a 507), the volume never near the minimum, eviction used.
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.True(lowest >= MinFree, $"the volume stayed above the minimum: {lowest} bytes free at the lowest");
        Assert.Equal((Days - Newest) * Repositories.Length, tagsRemoved); // one counted out a day and repository; evictions are not counted
        Assert.NotEmpty(evicted);
        Assert.All(evicted, m => Assert.Contains((m.Repository, m.Tags.Single()), oldPulls)); // only what was fetched on demand

        // The parent gone: the newest 10 of each repository pull whole from the site, and the old pulls not evicted.
        await h.Parent.StopAsync();
        foreach (var repository in Repositories)
        {
            for (var day = Days - Newest + 1; day <= Days; day++)
            {
                Assert.All(await PullAsync(h.Child.Client, repository, Release.Tag(day)), s => Assert.Equal(HttpStatusCode.OK, s));
            }
        }

        var stillHere = oldPulls.Where(p => h.Store.GetManifest(p.Repository, p.Tag) is not null).ToList();
        Assert.NotEmpty(stillHere); // the last ones are pinned (pulled within 7 days)
        foreach (var (repository, tag) in stillHere)
        {
            Assert.All(await PullAsync(h.Child.Client, repository, tag), s => Assert.Equal(HttpStatusCode.OK, s));
        }

        // Without the rules (every release kept) the same content fills the volume: the day it would.
        var fillDay = releases.DayUniqueBytesExceed(VolumeMib * Mib - MinFree);
        Assert.True(fillDay is > 0 and < Days, $"without the rules the volume would fill on day {fillDay}");

        StoreVerifier.Verify(h.Child.DataRoot);
        output.WriteLine($"{Days} days in {run.TotalSeconds:0.0} s (pushing to the parent {pushing.TotalSeconds:0.0} s, passes {passes.TotalSeconds:0.0} s): {statuses.Count} pulls (blobs and manifests) all 200; lowest free {lowest / (double)Mib:0.00} MiB, below the mark during {belowMarkDays} passes with nothing left to evict " +
            $"(minimum {MinFree / Mib}, mark {Mark / Mib} of {VolumeMib} MiB); {tagsRemoved} tags removed by newest, " +
            $"{collectedBytes / (double)Mib:0.0} MiB collected; {oldPulls.Count} old pulls on demand, {evicted.Count} evicted, {stillHere.Count} still here offline; " +
            $"without the rules the volume fills on day {fillDay} ({releases.UniqueBytes / (double)Mib:0.0} MiB over {Days} days)");
    }

    /// <summary>A client's pull of <paramref name="repository"/>:<paramref name="tag"/>: the manifest, then its config and layers, each checked against its digest; the status of every answer.</summary>
    private static async Task<List<HttpStatusCode>> PullAsync(HttpClient client, string repository, string tag)
    {
        var statuses = new List<HttpStatusCode>();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/{repository}/manifests/{tag}");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(MediaTypes.OciManifest));
        using var response = await client.SendAsync(request);
        statuses.Add(response.StatusCode);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return statuses;
        }

        var manifest = JObject.Parse(await response.Content.ReadAsStringAsync());
        foreach (var descriptor in manifest["layers"]!.Prepend(manifest["config"]!))
        {
            var digest = (string)descriptor["digest"]!;
            using var blob = await client.GetAsync($"/v2/{repository}/blobs/{digest}");
            statuses.Add(blob.StatusCode);
            if (blob.StatusCode == HttpStatusCode.OK)
            {
                Assert.Equal(digest, Digest.Compute(await blob.Content.ReadAsByteArrayAsync()).ToString());
            }
        }

        return statuses;
    }

    /// <summary>A client of the docker-registry parent (started without auth: the subject here is space, not sign-in).</summary>
    private static HttpClient ParentPusher(DockerRegistry parent) => new() { BaseAddress = parent.Endpoint };

    /// <summary>
    /// The daily releases at the parent: per repository two layers shared by every release (256 KiB and 64 KiB), one
    /// layer of 1–2 MiB that changes every day, and a config of its own; pushed over HTTP (an upload session, one
    /// PUT with the digest, then the manifest by tag). Remembers what each day added, for the run without the rules.
    /// </summary>
    private sealed class Release(HttpClient parent)
    {
        private readonly Dictionary<string, TestBlob[]> _shared = [];
        private readonly Dictionary<(string, string), Digest> _digests = [];
        private readonly List<long> _bytesPerDay = [];

        public long UniqueBytes => _bytesPerDay.Sum();

        public static string Tag(int day) => $"1.0.{day}";

        public Digest Digest(string repository, string tag) => _digests[(repository, tag)];

        public async Task PushAsync(string repository, int day)
        {
            long added = 0;
            if (!_shared.TryGetValue(repository, out var shared))
            {
                shared = [Layer($"{repository}-base", 256 * 1024), Layer($"{repository}-mid", 64 * 1024)];
                _shared[repository] = shared;
                foreach (var layer in shared)
                {
                    await PushBlobAsync(repository, layer);
                    added += layer.Size;
                }
            }

            var changing = Layer($"{repository}-{day}", (int)Mib + new Random(Seed($"{repository}-{day}-size")).Next((int)Mib));
            TestBlob[] layers = [shared[0], shared[1], changing];
            var config = new TestBlob(TestContent.Json(new
            {
                architecture = "amd64",
                os = "linux",
                config = new { Labels = new Dictionary<string, string> { ["release"] = $"{repository}:{Tag(day)}" } },
                rootfs = new { type = "layers", diff_ids = layers.Select(l => l.Digest.ToString()).ToArray() },
            }), MediaTypes.OciConfig);
            var manifest = new TestBlob(TestContent.Json(new Dictionary<string, object>
            {
                ["schemaVersion"] = 2,
                ["mediaType"] = MediaTypes.OciManifest,
                ["config"] = config.Descriptor(),
                ["layers"] = layers.Select(l => l.Descriptor()).ToArray(),
            }), MediaTypes.OciManifest);
            await PushBlobAsync(repository, changing);
            await PushBlobAsync(repository, config);
            using (var put = new ByteArrayContent(manifest.Bytes))
            {
                put.Headers.ContentType = new MediaTypeHeaderValue(manifest.MediaType);
                using var response = await parent.PutAsync($"/v2/{repository}/manifests/{Tag(day)}", put);
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            }

            _digests[(repository, Tag(day))] = manifest.Digest;
            added += changing.Size + config.Size + manifest.Size;
            if (_bytesPerDay.Count < day)
            {
                _bytesPerDay.Add(0);
            }

            _bytesPerDay[day - 1] += added;
        }

        /// <summary>The first day on which the releases so far add up to more than <paramref name="bytes"/>; 0 when none does.</summary>
        public int DayUniqueBytesExceed(long bytes)
        {
            long sum = 0;
            for (var i = 0; i < _bytesPerDay.Count; i++)
            {
                sum += _bytesPerDay[i];
                if (sum > bytes)
                {
                    return i + 1;
                }
            }

            return 0;
        }

        private static TestBlob Layer(string seed, int size)
        {
            var bytes = new byte[size];
            new Random(Seed(seed)).NextBytes(bytes);
            return new TestBlob(bytes, TestContent.LayerType);
        }

        /// <summary>A seed that is the same in every run (string hash codes are not).</summary>
        private static int Seed(string text) => text.Aggregate(17, (hash, c) => unchecked((hash * 31) + c));

        private async Task PushBlobAsync(string repository, TestBlob blob)
        {
            using var start = await parent.PostAsync($"/v2/{repository}/blobs/uploads/", null);
            Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
            var location = start.Headers.Location!.OriginalString;
            var separator = location.Contains('?', StringComparison.Ordinal) ? '&' : '?';
            using var body = new ByteArrayContent(blob.Bytes);
            body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var done = await parent.PutAsync($"{location}{separator}digest={blob.Digest}", body);
            Assert.Equal(HttpStatusCode.Created, done.StatusCode);
        }
    }
}
