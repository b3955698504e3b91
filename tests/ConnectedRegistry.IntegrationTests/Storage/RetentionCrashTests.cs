using System.Net;
using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Twin;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>
/// A <c>kill -9</c> of the real module process in the middle of a retention pass: the store check is clean (every blob
/// intact, every manifest's references there, no tag pointing at a missing manifest), and a pass after the restart
/// finishes the job.
/// </summary>
public sealed class RetentionCrashTests
{
    private const int Repositories = 4;
    private const int TagsPerRepository = 3000;
    private const int KeepNewest = 100;
    private const int Images = 12;

    private static string Database(string dataRoot) => Path.Combine(dataRoot, "registry.db");

    [Fact]
    public async Task Kill_9_in_the_middle_of_a_retention_pass_leaves_a_consistent_store_and_the_next_pass_finishes()
    {
        var dataRoot = TempDirectory.Create("retention-crash");
        try
        {
            var desired = Path.Combine(dataRoot, "twin", "desired.json");
            Directory.CreateDirectory(Path.GetDirectoryName(desired)!);
            await File.WriteAllTextAsync(desired, $$"""{ "schemaVersion": "1.0", "storage": { "retention": [{ "repositories": ["crash/*"], "keepNewest": {{KeepNewest}} }] } }""");
            var kept = await SeedAsync(dataRoot);
            var database = Database(dataRoot);
            var before = TestDatabase.Scalar(database, "SELECT COUNT(*) FROM tags");
            const long After = Repositories * KeepNewest;
            Assert.Equal((Repositories * TagsPerRepository) + Images, before);

            long atKill;
            using (var registry = await RegistryProcess.StartAsync(dataRoot))
            {
                var said = new StringWriter();
                Task<int> Call() => CommandLineRunner.RunAsync(CommandLineRunner.Root("test", CallCommand.Create()), ["call", "retention", "--data", dataRoot], said, said);
                var call = Call();

                // Kill as soon as the first batch committed (polled every 2 ms; the shared poll's 20 ms could miss the pass).
                // A call that ends before any batch committed found no socket yet (a loaded machine binds it later than
                // the HTTP port): it is sent again, and what it said is in the failure.
                var watch = System.Diagnostics.Stopwatch.StartNew();
                var calls = 1;
                while (TestDatabase.Scalar(database, "SELECT COUNT(*) FROM tags") == before)
                {
                    Assert.True(watch.Elapsed < TimeSpan.FromSeconds(120), $"no batch of the retention pass committed within 120 s ({calls} calls): {said}");
                    if (call.IsCompleted && TestDatabase.Scalar(database, "SELECT COUNT(*) FROM tags") == before)
                    {
                        await Task.Delay(200);
                        call = Call();
                        calls++;
                    }

                    Thread.Sleep(2);
                }

                registry.KillHard();
                atKill = TestDatabase.Scalar(database, "SELECT COUNT(*) FROM tags");
                Assert.Equal(1, await call); // the registry died under the call: no answer
            }

            Assert.True(atKill > After, $"the pass had finished ({atKill} tags) before the kill: the test proved nothing");
            StoreVerifier.Verify(dataRoot);

            await using (var restarted = await StartWithoutFollowUpsAsync(dataRoot))
            {
                foreach (var (repository, tag, digest) in kept)
                {
                    using var response = await restarted.Client.GetAsync($"/v2/{repository}/manifests/{tag}");
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    Assert.Equal(digest, Digest.Compute(await response.Content.ReadAsByteArrayAsync()));
                }

                Assert.Equal(atKill - After, await DrainAsync(restarted));
            }

            Assert.Equal(After, TestDatabase.Scalar(database, "SELECT COUNT(*) FROM tags"));
            Assert.Equal(After + Repositories, TestDatabase.Scalar(database, "SELECT COUNT(*) FROM manifests")); // and the base image, untagged (no untaggedAfter)
            StoreVerifier.Verify(dataRoot);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            TempDirectory.Delete(dataRoot);
        }
    }

    /// <summary>
    /// <c>kill -9</c> with a backlog left by <c>maxRemovalsPerPass</c>: once right after the <c>retention</c> method's pass
    /// answered (between two passes: the scheduler's next one is 5 s later), once in the middle of the pass the scheduler
    /// ran on its own to follow the method's. Each time the store check is clean and the tags removed are whole passes and
    /// batches; restarted, the passes remove exactly the rest.
    /// </summary>
    [Fact]
    public async Task Kill_9_between_bounded_passes_and_in_a_follow_up_pass_leaves_a_consistent_store_and_the_next_passes_finish()
    {
        const int Bound = 2000;
        var dataRoot = TempDirectory.Create("retention-crash-bound");
        try
        {
            var desired = Path.Combine(dataRoot, "twin", "desired.json");
            Directory.CreateDirectory(Path.GetDirectoryName(desired)!);
            await File.WriteAllTextAsync(desired, $$"""{ "schemaVersion": "1.0", "storage": { "retention": { "rules": [{ "repositories": ["crash/*"], "keepNewest": {{KeepNewest}} }], "maxRemovalsPerPass": {{Bound}} } } }""");
            var kept = await SeedAsync(dataRoot, tagsPerRepository: 1600);
            var database = Database(dataRoot);
            var before = TestDatabase.Scalar(database, "SELECT COUNT(*) FROM tags");
            const long After = Repositories * KeepNewest;
            Assert.Equal((Repositories * 1600) + Images, before);

            // Between passes: the method's pass answered with the rest pending, then the kill.
            using (var registry = await RegistryProcess.StartAsync(dataRoot))
            {
                var answer = await CallRetentionAsync(dataRoot);
                Assert.Equal(before - After - Bound, answer.Value<long>("pending"));
                registry.KillHard();
            }

            Assert.Equal(before - Bound, TestDatabase.Scalar(database, "SELECT COUNT(*) FROM tags"));
            StoreVerifier.Verify(dataRoot);

            // In a follow-up pass: the method's pass, then the scheduler's own 5 s later, killed once its first batch committed.
            long atKill;
            using (var registry = await RegistryProcess.StartAsync(dataRoot))
            {
                var answer = await CallRetentionAsync(dataRoot);
                Assert.Equal(before - After - (2 * Bound), answer.Value<long>("pending"));
                var afterTwo = before - (2 * Bound);
                var watch = System.Diagnostics.Stopwatch.StartNew();
                while (TestDatabase.Scalar(database, "SELECT COUNT(*) FROM tags") == afterTwo)
                {
                    Assert.True(watch.Elapsed < TimeSpan.FromSeconds(120), "the scheduler ran no follow-up pass within 120 s");
                    Thread.Sleep(2);
                }

                registry.KillHard();
                atKill = TestDatabase.Scalar(database, "SELECT COUNT(*) FROM tags");
            }

            Assert.True(atKill > before - (3 * Bound), $"the follow-up pass had finished ({atKill} tags) before the kill: the test proved nothing");
            Assert.Equal(0, (before - atKill) % RetentionPass.BatchSize); // whole batches, never half of one
            StoreVerifier.Verify(dataRoot);

            await using (var restarted = await StartWithoutFollowUpsAsync(dataRoot))
            {
                Assert.Equal(atKill - After, await DrainAsync(restarted, Bound));
                foreach (var (repository, tag, digest) in kept)
                {
                    using var response = await restarted.Client.GetAsync($"/v2/{repository}/manifests/{tag}");
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    Assert.Equal(digest, Digest.Compute(await response.Content.ReadAsByteArrayAsync()));
                }
            }

            Assert.Equal(After, TestDatabase.Scalar(database, "SELECT COUNT(*) FROM tags"));
            StoreVerifier.Verify(dataRoot);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            TempDirectory.Delete(dataRoot);
        }
    }

    /// <summary>The <c>retention</c> method through the control socket, as an operator calls it; its answer.</summary>
    private static async Task<JObject> CallRetentionAsync(string dataRoot)
    {
        var said = new StringWriter();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            // A loaded machine may bind the control socket after the HTTP port: a call that found none is sent again.
            var before = said.ToString().Length;
            if (await CommandLineRunner.RunAsync(CommandLineRunner.Root("test", CallCommand.Create()), ["call", "retention", "--data", dataRoot], said, said) == 0)
            {
                var text = said.ToString()[before..];
                return JObject.Parse(text[text.IndexOf('{', StringComparison.Ordinal)..]);
            }

            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"the retention call failed for 60 s: {said}");
            await Task.Delay(200);
        }
    }

    /// <summary>The registry in this process, its scheduler's own follow-up passes put off (the test runs them: <see cref="DrainAsync"/>).</summary>
    private static Task<RegistryInstance> StartWithoutFollowUpsAsync(string dataRoot) =>
        RegistryInstance.StartAsync(dataRoot, ["--gc-grace", "00:00:00"], builder =>
            builder.Services.AddSingleton(new RetentionSchedulerOptions { BacklogDelay = TimeSpan.FromDays(1) }));

    /// <summary>Runs passes until none is pending; the tags they removed, each pass at most <paramref name="bound"/>.</summary>
    private static async Task<long> DrainAsync(RegistryInstance registry, int bound = RetentionSettings.DefaultMaxRemovalsPerPass)
    {
        var pass = registry.App.Services.GetRequiredService<RetentionPass>();
        long removed = 0;
        for (var passes = 0; ; passes++)
        {
            Assert.True(passes < 100, "the backlog did not drain in 100 passes");
            var result = await pass.RunAsync(dryRun: false, CancellationToken.None);
            Assert.InRange(result.Tags.Count + result.Manifests.Count, 0, bound);
            removed += result.Tags.Count;
            if (result.Pending == 0)
            {
                return removed;
            }
        }
    }

    /// <summary>
    /// Real images with their own blobs pushed first (the oldest, so the pass removes them and garbage collection deletes
    /// their blobs), then many small manifests sharing one image's blobs, each with its own tag, stored through the
    /// registry's store. Returns the tags the rule keeps, with their digests.
    /// </summary>
    private static async Task<List<(string Repository, string Tag, Digest Digest)>> SeedAsync(string dataRoot, int tagsPerRepository = TagsPerRepository)
    {
        await using var seed = await RegistryInstance.StartAsync(dataRoot);
        var store = seed.App.Services.GetRequiredService<RegistryStore>();
        var kept = new List<(string, string, Digest)>();
        for (var i = 0; i < Images; i++)
        {
            await seed.Client.PushImageAsync($"crash/r{i % Repositories}", $"image-{i}", TestContent.Image($"retention-crash-{i}", layers: 2, layerSize: 200_000));
        }

        var baseImage = TestContent.Image("retention-crash-base", layers: 1, layerSize: 1000);
        for (var r = 0; r < Repositories; r++)
        {
            var repository = $"crash/r{r}";
            await seed.Client.PushImageAsync(repository, baseImage.Manifest.Digest.ToString(), baseImage);
            for (var t = 0; t < tagsPerRepository; t++)
            {
                var manifest = TestContent.ManifestVariant(baseImage, $"{r}-{t}");
                var put = await store.PutManifestAsync(repository, manifest, MediaTypes.OciManifest, $"t{t:D5}");
                if (t >= tagsPerRepository - KeepNewest)
                {
                    kept.Add((repository, $"t{t:D5}", put.Digest));
                }
            }
        }

        return kept;
    }
}
