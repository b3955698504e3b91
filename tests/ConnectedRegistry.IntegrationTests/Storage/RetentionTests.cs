using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Monitoring;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using ConnectedRegistry.Twin;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>
/// <c>storage.retention</c> against the real registry: each rule, rules combining, a push the parent has not got yet,
/// the dry run, and what the pass reports. Time is a fake clock (push times, pull times, ages); garbage collection has
/// no grace period here, so the bytes a pass frees are on the disk's side at once.
/// </summary>
public sealed class RetentionTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private RegistryInstance _registry = null!;
    private string _events = null!;

    public async Task InitializeAsync()
    {
        var data = TempDirectory.Create("retention");
        _events = Path.Combine(data, "events.jsonl");
        _registry = await RegistryInstance.StartAsync(data, ["--gc-grace", "00:00:00", "--events", _events], builder =>
        {
            builder.Services.AddSingleton<TimeProvider>(_time);
            builder.Services.AddSingleton(new StorageOptions { GarbageCollectionGrace = TimeSpan.Zero, PullFlushInterval = TimeSpan.FromDays(1) });
        });
    }

    public async Task DisposeAsync()
    {
        _registry.DeleteData();
        await _registry.DisposeAsync();
    }

    private IServiceProvider Services => _registry.App.Services;

    private RegistryStore Store => Services.GetRequiredService<RegistryStore>();

    /// <summary>Applies a desired document through the real parser, as the twin pipeline would.</summary>
    private RegistrySettings Apply(string desired)
    {
        var parsed = DesiredPropertiesParser.Parse(TwinJson.ParseObject(desired));
        Assert.Empty(parsed.Errors);
        Services.GetRequiredService<RegistrySettingsStore>().Apply(parsed.Settings!);
        return parsed.Settings!;
    }

    private void Rules(string rules) => Apply($$"""{ "schemaVersion": "1.0", "storage": { "retention": {{rules}} } }""");

    private async Task<JObject> CallAsync(bool? dryRun)
    {
        var payload = dryRun is { } d ? new JObject { ["dryRun"] = d }.ToString() : string.Empty;
        var result = await Services.GetRequiredService<DirectMethodDispatcher>().DispatchAsync("retention", payload, CancellationToken.None);
        Assert.Equal(200, result.Status);
        return (JObject)result.Payload;
    }

    /// <summary>Pushes each tag as its own small image, one minute apart on the clock; the images by tag.</summary>
    private async Task<Dictionary<string, TestImage>> PushAsync(string repository, params string[] tags)
    {
        var images = new Dictionary<string, TestImage>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            var image = TestContent.Image($"{repository}-{tag}", layers: 2, layerSize: 10_000);
            await _registry.Client.PushImageAsync(repository, tag, image);
            images[tag] = image;
            _time.Advance(TimeSpan.FromMinutes(1));
        }

        return images;
    }

    private async Task PullAsync(string repository, string reference)
    {
        using var response = await _registry.Client.GetAsync($"/v2/{repository}/manifests/{reference}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private IEnumerable<string> Tags(string repository) => Store.ListTags(repository).Select(t => t.Tag);

    private static IEnumerable<string> Listed(JObject answer) => answer["tags"]!.Select(t => $"{t["repository"]}:{t["tag"]}").Order(StringComparer.Ordinal);

    private static long ImageBytes(TestImage image) => image.Manifest.Size + image.Blobs.Sum(b => b.Size);

    /// <summary>
    /// The eviction's race, in a retention pass: a collection (the schedule both run on) between the pass's removals and
    /// its own collection would free the blobs first, and the pass would report less than it freed. The removals and
    /// the pass's collection hold the collector's run lock: with collections back to back, the pass reports every byte.
    /// </summary>
    [Fact]
    public async Task A_pass_racing_garbage_collection_reports_every_byte_its_removals_freed()
    {
        var tags = Enumerable.Range(0, 30).Select(i => $"v{i:D2}").ToArray();
        var images = await PushAsync("ret/race", tags);
        Rules("""[{ "repositories": ["ret/race"], "keepNewest": 1 }]""");
        _time.Advance(TimeSpan.FromSeconds(1)); // past the (zero) grace of the links made by the pushes
        var collector = Services.GetRequiredService<IGarbageCollector>();
        using var stop = new CancellationTokenSource();
        var collections = BackToBackCollections.RunAsync(collector, stop.Token);

        var result = await Services.GetRequiredService<RetentionPass>().RunAsync(dryRun: false, CancellationToken.None);
        await stop.CancelAsync();
        Assert.True(await collections > 0);
        Assert.Equal(tags.Length - 1, result.Tags.Count);
        var removed = tags[..^1].SelectMany(t => images[t].Blobs).Sum(b => b.Size);
        Assert.Equal(removed, result.BytesToFree);
        Assert.Equal(removed, result.BytesFreed);
        StoreVerifier.Verify(_registry.DataRoot);
    }

    [Fact]
    public async Task KeepNewest_keeps_the_most_recently_pushed_tags_a_dry_run_changes_nothing_and_the_pass_frees_the_rest()
    {
        // Pushed in an order unlike the names' (push time decides, not the name): v3, v1, v4, v2.
        var images = await PushAsync("ret/app", "v3", "v1", "v4", "v2");
        Rules("""[{ "repositories": ["ret/*"], "keepNewest": 2 }]""");
        var blobFiles = Directory.GetFiles(Path.Combine(_registry.DataRoot, "blobs"), "*", SearchOption.AllDirectories).Length;

        var dry = await CallAsync(dryRun: true);
        Assert.True(dry.Value<bool>("dryRun"));
        Assert.Equal(["ret/app:v1", "ret/app:v3"], Listed(dry));
        Assert.Equal(ImageBytes(images["v3"]), dry["tags"]!.Single(t => t.Value<string>("tag") == "v3").Value<long>("size"));
        Assert.Equal(images["v1"].Blobs.Concat(images["v3"].Blobs).Sum(b => b.Size), dry.Value<long>("bytesToFree"));
        Assert.Equal(JTokenType.Null, dry["bytesFreed"]!.Type);

        // The dry run changed nothing: every tag, every blob file, no reported pass.
        Assert.Equal(["v1", "v2", "v3", "v4"], Tags("ret/app"));
        Assert.Equal(blobFiles, Directory.GetFiles(Path.Combine(_registry.DataRoot, "blobs"), "*", SearchOption.AllDirectories).Length);
        Assert.Null(Services.GetRequiredService<ModuleState>().Snapshot().Retention);

        _time.Advance(TimeSpan.FromSeconds(1)); // past the (zero) grace of the links made by the pushes
        var pass = await CallAsync(dryRun: null);
        Assert.False(pass.Value<bool>("dryRun"));
        Assert.Equal(["ret/app:v1", "ret/app:v3"], Listed(pass));
        Assert.Equal(["v2", "v4"], Tags("ret/app"));
        var freed = images["v1"].Blobs.Concat(images["v3"].Blobs).Sum(b => b.Size);
        Assert.Equal(freed, pass.Value<long>("bytesFreed"));
        foreach (var gone in images["v1"].Blobs.Concat(images["v3"].Blobs))
        {
            Assert.False(Store.BlobExists(gone.Digest), $"blob {gone.Digest} of a removed tag is still stored");
        }

        Assert.Null(Store.GetManifest("ret/app", images["v1"].Manifest.Digest.ToString()));
        foreach (var kept in new[] { "v2", "v4" })
        {
            Assert.Equal(images[kept].Manifest.Bytes, await _registry.Client.GetByteArrayAsync($"/v2/ret/app/manifests/{kept}"));
            foreach (var blob in images[kept].Blobs)
            {
                Assert.Equal(blob.Bytes, await _registry.Client.GetByteArrayAsync($"/v2/ret/app/blobs/{blob.Digest}"));
            }
        }

        // Reported, measured and told: storage.retention, the metrics' source, the TagsRetired event.
        var state = Services.GetRequiredService<ModuleState>().Snapshot();
        Assert.Equal(new RetentionStatus(_time.GetUtcNow(), 2, 0, freed), state.Retention);
        var reported = ReportedProperties.Build(state, DesiredStatus.Initial);
        Assert.Equal(2, reported["storage"]!["retention"]!.Value<int>("tagsRemoved"));
        Assert.Equal(freed, reported["storage"]!["retention"]!.Value<long>("bytesFreed"));
        await Poll.UntilAsync(() => File.Exists(_events) && File.ReadAllText(_events).Contains("\"TagsRetired\"", StringComparison.Ordinal), "the TagsRetired event written");
        var retired = File.ReadAllLines(_events).Select(JObject.Parse).Single(e => e.Value<string>("type") == EventTypes.TagsRetired);
        Assert.Equal(2, retired.Value<int>("tagsRemoved"));
        Assert.Equal(["ret/app"], retired["repositories"]!.Values<string>());

        // A second pass finds nothing more to do.
        var again = await CallAsync(dryRun: false);
        Assert.Equal(0, again.Value<int>("tagsRemoved"));
    }

    /// <summary>
    /// <c>maxRemovalsPerPass</c>: the dry run lists everything with the passes it takes; a pass removes exactly the bound,
    /// the oldest first across the repositories (pushed interleaved, so each loses its oldest before any loses a newer
    /// one), and reports the rest pending (method, reported property, event, metric); the scheduler follows with the next
    /// pass a backlog delay later until nothing is pending, and no pass after that.
    /// </summary>
    [Fact]
    public async Task A_pass_removes_at_most_maxRemovalsPerPass_oldest_first_across_repositories_and_the_next_passes_drain_the_rest()
    {
        foreach (var version in new[] { "v1", "v2", "v3", "v4" })
        {
            foreach (var repository in new[] { "bound/a", "bound/b", "bound/c" })
            {
                await PushAsync(repository, version);
            }
        }

        Rules("""{ "rules": [{ "repositories": ["bound/*"], "keepNewest": 1 }], "maxRemovalsPerPass": 4 }""");
        var dry = await CallAsync(dryRun: true);
        Assert.Equal(9, dry.Value<int>("tagsRemoved"));
        Assert.Equal(3, dry.Value<int>("passes"));
        Assert.Equal(4, dry.Value<int>("maxRemovalsPerPass"));
        Assert.Equal(JTokenType.Null, dry["pending"]!.Type);
        Assert.Equal(["bound/a:v1", "bound/b:v1", "bound/c:v1", "bound/a:v2", "bound/b:v2", "bound/c:v2", "bound/a:v3", "bound/b:v3", "bound/c:v3"],
            dry["tags"]!.Select(t => $"{t["repository"]}:{t["tag"]}")); // listed in the order the passes take them

        _time.Advance(TimeSpan.FromSeconds(1)); // past the (zero) grace of the links made by the pushes
        var state = Services.GetRequiredService<ModuleState>();
        var statuses = new List<RetentionStatus>();
        state.Changed += () =>
        {
            lock (statuses)
            {
                if (state.Retention is { } status && (statuses.Count == 0 || statuses[^1] != status))
                {
                    statuses.Add(status);
                }
            }
        };
        var first = await CallAsync(dryRun: false);
        Assert.Equal(["bound/a:v1", "bound/a:v2", "bound/b:v1", "bound/c:v1"], Listed(first));
        Assert.Equal(5, first.Value<int>("pending"));
        Assert.Equal(JTokenType.Null, first["passes"]!.Type);
        Assert.Equal(["v3", "v4"], Tags("bound/a"));
        Assert.Equal(["v2", "v3", "v4"], Tags("bound/b"));
        Assert.Equal(["v2", "v3", "v4"], Tags("bound/c"));

        var reported = ReportedProperties.Build(state.Snapshot(), DesiredStatus.Initial)["storage"]!["retention"]!;
        Assert.Equal(4, reported.Value<int>("tagsRemoved"));
        Assert.Equal(5, reported.Value<int>("pending"));
        using (var metrics = new MemoryStream())
        {
            await Services.GetRequiredService<PrometheusExporter>().WriteAsync(metrics, CancellationToken.None);
            Assert.Contains("\nconnected_registry_retention_pending 5\n", System.Text.Encoding.UTF8.GetString(metrics.ToArray()), StringComparison.Ordinal);
        }

        await Poll.UntilAsync(() => File.Exists(_events) && File.ReadAllText(_events).Contains("\"TagsRetired\"", StringComparison.Ordinal), "the TagsRetired event written");
        Assert.Equal(5, File.ReadAllLines(_events).Select(JObject.Parse).First(e => e.Value<string>("type") == EventTypes.TagsRetired).Value<int>("pending"));

        // The scheduler follows: one pass per backlog delay (5 s), 4 and then the last 1, then none.
        var scheduler = Services.GetRequiredService<RetentionScheduler>();
        await Poll.UntilAsync(() => scheduler.NextRun is { } next && next <= _time.GetUtcNow() + TimeSpan.FromSeconds(5), "the follow-up pass planned");
        _time.Advance(TimeSpan.FromSeconds(5));
        await Poll.UntilAsync(() => state.Retention?.Pending == 1, "the second pass");
        Assert.Equal(["v4"], Tags("bound/a"));
        Assert.Equal(["v4"], Tags("bound/b"));
        Assert.Equal(["v3", "v4"], Tags("bound/c"));
        await Poll.UntilAsync(() => scheduler.NextRun is { } next && next <= _time.GetUtcNow() + TimeSpan.FromSeconds(5), "the last pass planned");
        _time.Advance(TimeSpan.FromSeconds(5));
        await Poll.UntilAsync(() => state.Retention?.Pending == 0, "the third pass");
        Assert.Equal(["v4"], Tags("bound/c"));
        await Poll.UntilAsync(() => scheduler.NextRun is { } next && next > _time.GetUtcNow() + TimeSpan.FromMinutes(1), "no pass planned soon once nothing is pending");
        lock (statuses)
        {
            Assert.Equal([(4, 5), (4, 1), (1, 0)], statuses.Select(s => (s.TagsRemoved, s.Pending)));
        }

        StoreVerifier.Verify(_registry.DataRoot);
    }

    [Fact]
    public async Task KeepPulledWithin_keeps_tags_pulled_lately_by_the_recorded_pull_times_even_those_still_in_memory()
    {
        // Hours, not days: the fake clock fires every timer of the app on its way (a day costs about a second here).
        await PushAsync("pulled/app", "a", "b", "c", "d");
        _time.Advance(TimeSpan.FromHours(2));
        await PullAsync("pulled/app", "a");                      // 3 hours before the pass: too long ago
        _time.Advance(TimeSpan.FromHours(1));
        await PullAsync("pulled/app", "b");                      // 2 hours before: kept
        await _registry.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/v2/pulled/app/manifests/c")); // a HEAD is no pull
        _time.Advance(TimeSpan.FromHours(2));
        Rules("""[{ "repositories": ["pulled/app"], "keepPulledWithin": "PT150M" }]""");

        // The pulls are still in memory (the flush interval is a day here): the pass writes them first.
        Assert.Empty(Store.GetLastPulls("pulled/app"));
        var dry = await CallAsync(dryRun: true);
        Assert.Equal(["pulled/app:a", "pulled/app:c", "pulled/app:d"], Listed(dry));
        Assert.Equal(2, Store.GetLastPulls("pulled/app").Count);

        await CallAsync(dryRun: false);
        Assert.Equal(["b"], Tags("pulled/app"));
    }

    [Fact]
    public async Task KeepTags_keeps_what_its_expression_matches()
    {
        await PushAsync("named/app", "1.0", "1.1", "latest", "dev-1234", "dev-5678", "1.2-rc1");
        Rules("""[{ "repositories": ["named/*"], "keepTags": "^(latest|\\d+\\.\\d+)$" }]""");

        await CallAsync(dryRun: false);

        Assert.Equal(["1.0", "1.1", "latest"], Tags("named/app"));
    }

    [Fact]
    public async Task Every_rule_that_names_a_repository_applies_and_a_tag_any_of_them_keeps_stays()
    {
        await PushAsync("mix/app", "old-stable", "a1", "a2", "a3");
        await PushAsync("mix/tool", "t1", "t2", "t3");
        await PushAsync("other/x", "x1", "x2");
        Rules("""
            [
              { "repositories": ["mix/*"], "keepNewest": 1 },
              { "repositories": ["mix/app"], "keepTags": "-stable$" },
              { "repositories": ["mix/tool"], "keepNewest": 2 },
              { "repositories": ["*"], "untaggedAfter": "P30D" }
            ]
            """);

        var dry = await CallAsync(dryRun: true);

        // mix/app: the newest (a3) by the first rule, old-stable by the second; mix/tool: the newest 2 (the larger count
        // of its two rules); other/x: only a rule without tag criteria applies, which keeps every tag.
        Assert.Equal(["mix/app:a1", "mix/app:a2", "mix/tool:t1"], Listed(dry));
        await CallAsync(dryRun: false);
        Assert.Equal(["a3", "old-stable"], Tags("mix/app"));
        Assert.Equal(["t2", "t3"], Tags("mix/tool"));
        Assert.Equal(["x1", "x2"], Tags("other/x"));
    }

    [Fact]
    public async Task UntaggedAfter_removes_manifests_nothing_keeps_once_old_enough_and_leaves_an_index_children_and_a_tagged_image_signature()
    {
        const string Repository = "untagged/app";
        var old = TestContent.Image("untagged-old");
        await _registry.Client.PushImageAsync(Repository, old.Manifest.Digest.ToString(), old); // pushed by digest: untagged
        var pulled = TestContent.Image("untagged-pulled");
        await _registry.Client.PushImageAsync(Repository, pulled.Manifest.Digest.ToString(), pulled);
        var amd = TestContent.Image("untagged-amd", architecture: "amd64");
        var arm = TestContent.Image("untagged-arm", architecture: "arm64");
        await _registry.Client.PushImageAsync(Repository, amd.Manifest.Digest.ToString(), amd);
        await _registry.Client.PushImageAsync(Repository, arm.Manifest.Digest.ToString(), arm);
        var index = TestContent.Index([(amd, "amd64"), (arm, "arm64")]);
        Assert.Equal(HttpStatusCode.Created, (await _registry.Client.PutManifestAsync(Repository, "multi", index)).StatusCode);
        var tagged = (await PushAsync(Repository, "kept"))["kept"];
        var signature = TestContent.Artifact("untagged-sig", "application/vnd.example.sig", tagged.Manifest);
        await _registry.Client.PushImageAsync(Repository, signature.Manifest.Digest.ToString(), signature);

        _time.Advance(TimeSpan.FromHours(3));
        var young = TestContent.Image("untagged-young");
        await _registry.Client.PushImageAsync(Repository, young.Manifest.Digest.ToString(), young); // 2 hours before the pass
        _time.Advance(TimeSpan.FromHours(1));
        await PullAsync(Repository, pulled.Manifest.Digest.ToString()); // pulled by digest an hour before the pass
        _time.Advance(TimeSpan.FromHours(1));
        Rules("""[{ "repositories": ["untagged/*"], "untaggedAfter": "PT3H30M" }]""");

        var dry = await CallAsync(dryRun: true);
        var listed = Assert.Single((JArray)dry["manifests"]!);
        Assert.Equal(old.Manifest.Digest.ToString(), listed.Value<string>("digest"));
        Assert.Equal(ImageBytes(old), listed.Value<long>("size"));
        Assert.Empty((JArray)dry["tags"]!);

        var pass = await CallAsync(dryRun: false);
        Assert.Equal(1, pass.Value<int>("manifestsRemoved"));
        Assert.Null(Store.GetManifest(Repository, old.Manifest.Digest.ToString()));
        foreach (var stays in new[] { pulled, young, amd, arm, tagged, signature })
        {
            Assert.NotNull(Store.GetManifest(Repository, stays.Manifest.Digest.ToString()));
        }

        Assert.NotNull(Store.GetManifest(Repository, "multi"));
    }

    [Fact]
    public async Task A_removed_tag_takes_its_index_children_and_signature_unless_something_else_keeps_them()
    {
        const string Repository = "graph/app";
        var shared = TestContent.Image("graph-shared", architecture: "amd64");
        var only = TestContent.Image("graph-only", architecture: "arm64");
        await _registry.Client.PushImageAsync(Repository, shared.Manifest.Digest.ToString(), shared);
        await _registry.Client.PushImageAsync(Repository, only.Manifest.Digest.ToString(), only);
        var oldIndex = TestContent.Index([(shared, "amd64"), (only, "arm64")]);
        Assert.Equal(HttpStatusCode.Created, (await _registry.Client.PutManifestAsync(Repository, "old", oldIndex)).StatusCode);
        var signature = TestContent.Artifact("graph-sig", "application/vnd.example.sig", oldIndex);
        await _registry.Client.PushImageAsync(Repository, signature.Manifest.Digest.ToString(), signature);
        _time.Advance(TimeSpan.FromMinutes(1));
        var newIndex = TestContent.Index([(shared, "amd64")]);
        Assert.Equal(HttpStatusCode.Created, (await _registry.Client.PutManifestAsync(Repository, "new", newIndex)).StatusCode);
        Rules("""[{ "repositories": ["graph/app"], "keepNewest": 1 }]""");

        var pass = await CallAsync(dryRun: false);

        Assert.Equal(["graph/app:old"], Listed(pass));
        Assert.Null(Store.GetManifest(Repository, oldIndex.Digest.ToString()));
        Assert.Null(Store.GetManifest(Repository, only.Manifest.Digest.ToString()));
        Assert.Null(Store.GetManifest(Repository, signature.Manifest.Digest.ToString()));
        Assert.NotNull(Store.GetManifest(Repository, shared.Manifest.Digest.ToString())); // the new index lists it
        Assert.Equal(oldIndex.Size + ImageBytes(only) + ImageBytes(signature), pass["tags"]![0]!.Value<long>("size"));
        StoreVerifier.Verify(_registry.DataRoot);
    }

    [Fact]
    public async Task A_local_push_the_parent_has_not_got_is_never_removed_and_is_decided_once_it_is_gone_from_the_outbox()
    {
        // ReadWrite with a parent that does not answer: every push waits in the outbox.
        Apply("""
            { "schemaVersion": "1.0", "mode": "ReadWrite", "parent": { "endpoint": "http://127.0.0.1:1" },
              "sync": { "schedule": "0 0 30 2 *", "window": "PT1H", "messageTtl": "P1D" },
              "storage": { "retention": [{ "repositories": ["local/*"], "keepNewest": 1 }] } }
            """);
        await PushAsync("local/app", "p1", "p2", "p3");
        var outbox = Services.GetRequiredService<SyncOutbox>();
        Assert.Equal(3, outbox.Count());

        var dry = await CallAsync(dryRun: true);
        Assert.Empty((JArray)dry["tags"]!);
        await CallAsync(dryRun: false);
        Assert.Equal(["p1", "p2", "p3"], Tags("local/app"));

        // Once the pushes are no longer pending (here: dropped at the message TTL), the rule decides them.
        _time.Advance(TimeSpan.FromHours(2));
        Assert.Equal(3, outbox.DropExpired(TimeSpan.FromHours(1)).Count);
        await CallAsync(dryRun: false);
        Assert.Equal(["p3"], Tags("local/app"));
    }

    [Fact]
    public async Task Without_rules_a_pass_removes_nothing_and_a_bad_payload_is_refused()
    {
        await PushAsync("none/app", "a", "b");

        var pass = await CallAsync(dryRun: false);

        Assert.Equal(0, pass.Value<int>("tagsRemoved"));
        Assert.Equal(["a", "b"], Tags("none/app"));
        var dispatcher = Services.GetRequiredService<DirectMethodDispatcher>();
        foreach (var payload in new[] { """{"dryRun": "yes"}""", """{"dryrun": true}""", "[]" })
        {
            var refused = await dispatcher.DispatchAsync("retention", payload, CancellationToken.None);
            Assert.Equal(400, refused.Status);
            Assert.Equal("BadPayload", refused.Payload["error"]!.Value<string>("code"));
        }
    }

    [Fact]
    public async Task The_scheduler_runs_a_pass_after_a_sync_pass_and_at_the_garbage_collection_schedule()
    {
        await PushAsync("sched/app", "a", "b", "c");
        Apply("""
            { "schemaVersion": "1.0", "garbageCollection": { "schedule": "0 3 * * *" },
              "storage": { "retention": [{ "repositories": ["sched/*"], "keepNewest": 2 }] } }
            """);
        var scheduler = Services.GetRequiredService<RetentionScheduler>();
        var state = Services.GetRequiredService<ModuleState>();
        await Poll.UntilAsync(() => scheduler.NextRun is not null, "the next pass planned");
        Assert.Equal(0, scheduler.NextRun!.Value.Minute);
        Assert.Equal(3, scheduler.NextRun.Value.Hour);

        // A sync pass ended: a retention pass follows at once (none ran yet).
        state.UpdateSync(s => s with { LastSyncTime = _time.GetUtcNow() });
        await Poll.UntilAsync(() => state.Snapshot().Retention is not null, "a retention pass after the sync pass");
        Assert.Equal(["b", "c"], Tags("sched/app"));
    }
}
