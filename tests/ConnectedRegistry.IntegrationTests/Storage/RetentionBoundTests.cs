using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Twin;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>
/// <c>storage.retention.maxRemovalsPerPass</c> against a single unbounded pass: one data root, seeded once with what
/// makes the plan's units depend on each other (two tags of one manifest, an index whose child a newer index shares, a
/// signature of the old index, untagged manifests, a multi-arch image's children pushed untagged), copied while the
/// registry is stopped; one copy drained by passes of 2 removals (the first through the <c>retention</c> method, the
/// rest run by the scheduler on its own), the other by one pass without a bound. Both end in the same tags, manifests and
/// blob files, and every bounded pass removed at most 2.
/// </summary>
public sealed class RetentionBoundTests
{
    private const int Bound = 2;

    private static string Rules(int bound) =>
        $$"""{ "schemaVersion": "1.0", "storage": { "retention": { "rules": [{ "repositories": ["eq/*"], "keepNewest": 2, "untaggedAfter": "PT1H" }], "maxRemovalsPerPass": {{bound}} } } }""";

    [Fact]
    public async Task Passes_of_the_bound_drain_the_backlog_to_the_state_one_unbounded_pass_reaches()
    {
        var seeded = TempDirectory.Create("retention-bound-seed");
        var bounded = TempDirectory.Create("retention-bound");
        var unbounded = TempDirectory.Create("retention-unbounded");
        try
        {
            await SeedAsync(seeded);
            Copy(seeded, bounded);
            Copy(seeded, unbounded);

            // Unbounded: one pass removes everything.
            int planned;
            await using (var single = await StartAsync(unbounded, Rules(RetentionSettings.MaxMaxRemovalsPerPass)))
            {
                var pass = await single.App.Services.GetRequiredService<RetentionPass>().RunAsync(dryRun: false, CancellationToken.None);
                planned = pass.Tags.Count + pass.Manifests.Count;
                Assert.Equal(0, pass.Pending);
                Assert.True(planned > 4 * Bound, $"only {planned} removals: the test would prove little");
            }

            // Bounded: the method's pass, then the scheduler's every 50 ms until nothing is pending.
            var statuses = new List<RetentionStatus>();
            await using (var registry = await StartAsync(bounded, Rules(Bound)))
            {
                var state = registry.App.Services.GetRequiredService<ModuleState>();
                state.Changed += () =>
                {
                    lock (statuses)
                    {
                        if (state.Retention is { } status && (statuses.Count == 0 || !ReferenceEquals(statuses[^1], status)))
                        {
                            statuses.Add(status);
                        }
                    }
                };
                var dry = (JObject)(await registry.App.Services.GetRequiredService<DirectMethodDispatcher>().DispatchAsync("retention", """{"dryRun": true}""", CancellationToken.None)).Payload;
                Assert.Equal(planned, dry.Value<int>("tagsRemoved") + dry.Value<int>("manifestsRemoved"));
                Assert.Equal((planned + Bound - 1) / Bound, dry.Value<int>("passes"));

                var first = await registry.App.Services.GetRequiredService<DirectMethodDispatcher>().DispatchAsync("retention", string.Empty, CancellationToken.None);
                Assert.Equal(200, first.Status);
                Assert.Equal(planned - Bound, first.Payload.Value<int>("pending"));
                await Poll.UntilAsync(() => state.Retention is { Pending: 0 }, "the backlog drained by the scheduler's passes", TimeSpan.FromSeconds(120));
            }

            lock (statuses)
            {
                Assert.All(statuses.SkipLast(1), s => Assert.Equal(Bound, s.TagsRemoved + s.ManifestsRemoved));
                Assert.InRange(statuses[^1].TagsRemoved + statuses[^1].ManifestsRemoved, 1, Bound);
                Assert.Equal(planned, statuses.Sum(s => s.TagsRemoved + s.ManifestsRemoved));
                Assert.Equal((planned + Bound - 1) / Bound, statuses.Count);
                Assert.Equal(Enumerable.Range(1, statuses.Count).Select(i => Math.Max(0, planned - (i * Bound))), statuses.Select(s => s.Pending));
            }

            SqliteConnection.ClearAllPools();
            foreach (var query in new[]
            {
                "SELECT repository || ':' || tag || '@' || digest FROM tags",
                "SELECT repository || '@' || digest FROM manifests",
                "SELECT repository || ' ' || digest FROM blob_links",
                "SELECT repository || '@' || digest || ' ' || target || ' ' || kind FROM manifest_refs",
            })
            {
                Assert.Equal(Rows(unbounded, query), Rows(bounded, query));
            }

            Assert.Equal(BlobFiles(unbounded), BlobFiles(bounded));
            Assert.True(BlobFiles(bounded).Count < BlobFiles(seeded).Count);
            StoreVerifier.Verify(bounded);
            StoreVerifier.Verify(unbounded);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            TempDirectory.Delete(seeded);
            TempDirectory.Delete(bounded);
            TempDirectory.Delete(unbounded);
        }
    }

    private static Task<RegistryInstance> StartAsync(string dataRoot, string desired)
    {
        var file = Path.Combine(dataRoot, "twin", "desired.json");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, desired);
        return RegistryInstance.StartAsync(dataRoot, ["--gc-grace", "00:00:00"], builder =>
            builder.Services.AddSingleton(new RetentionSchedulerOptions { BacklogDelay = TimeSpan.FromMilliseconds(50) }));
    }

    /// <summary>
    /// Two repositories pushed a day ago on a fake clock, one minute apart, interleaved: tags, two tags of one image, an
    /// index and its children, a newer index sharing one child, a signature of the old index, untagged images.
    /// </summary>
    private static async Task SeedAsync(string dataRoot)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(-1));
        await using var seed = await RegistryInstance.StartAsync(dataRoot, null, (WebApplicationBuilder builder) => builder.Services.AddSingleton<TimeProvider>(time));
        var client = seed.Client;
        async Task Tag(string repository, string tag, TestImage image)
        {
            await client.PushImageAsync(repository, tag, image);
            time.Advance(TimeSpan.FromMinutes(1));
        }

        async Task Untagged(string repository, TestImage image)
        {
            await client.PushImageAsync(repository, image.Manifest.Digest.ToString(), image);
            time.Advance(TimeSpan.FromMinutes(1));
        }

        var twice = TestContent.Image("bound-twice");
        var amd = TestContent.Image("bound-amd", architecture: "amd64");
        var arm = TestContent.Image("bound-arm", architecture: "arm64");
        await Untagged("eq/a", amd);
        await Untagged("eq/a", arm);
        var oldIndex = TestContent.Index([(amd, "amd64"), (arm, "arm64")]);
        Assert.Equal(HttpStatusCode.Created, (await client.PutManifestAsync("eq/a", "multi-old", oldIndex)).StatusCode);
        time.Advance(TimeSpan.FromMinutes(1));
        await Untagged("eq/a", TestContent.Artifact("bound-sig", "application/vnd.example.sig", oldIndex));
        await Untagged("eq/b", TestContent.Image("bound-untagged-1"));
        await Tag("eq/b", "twice-1", twice);
        for (var i = 0; i < 6; i++)
        {
            await Tag("eq/a", $"a{i}", TestContent.Image($"bound-a{i}"));
            await Tag("eq/b", $"b{i}", TestContent.Image($"bound-b{i}"));
            if (i == 2)
            {
                await Tag("eq/b", "twice-2", twice);
                await Untagged("eq/a", TestContent.Image("bound-untagged-2"));
                var newIndex = TestContent.Index([(amd, "amd64")]);
                Assert.Equal(HttpStatusCode.Created, (await client.PutManifestAsync("eq/a", "multi-new", newIndex)).StatusCode);
                time.Advance(TimeSpan.FromMinutes(1));
            }
        }
    }

    /// <summary>A stopped registry's data root copied whole (its SQLite files with their logs).</summary>
    private static void Copy(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }

    private static List<string> Rows(string dataRoot, string query)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(dataRoot, "registry.db")};Pooling=False;Mode=ReadOnly");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = query;
        using var reader = command.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(reader.GetString(0));
        }

        rows.Sort(StringComparer.Ordinal);
        return rows;
    }

    private static List<string> BlobFiles(string dataRoot) =>
        [.. Directory.GetFiles(Path.Combine(dataRoot, "blobs"), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dataRoot, f)).Order(StringComparer.Ordinal)];
}
