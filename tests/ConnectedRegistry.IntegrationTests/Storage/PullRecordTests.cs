using System.Net;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>
/// The last pull time of each manifest: noted in memory on a successful manifest GET (HEAD does not count), written
/// in one transaction per flush interval and at a graceful stop, and kept across restarts in <c>registry.db</c>.
/// </summary>
public sealed class PullRecordTests
{
    private const string Repository = "pulls/app";

    private static Task<HttpResponseMessage> SendAsync(RegistryInstance registry, HttpMethod method, string reference) =>
        registry.Client.SendAsync(new HttpRequestMessage(method, $"/v2/{Repository}/manifests/{reference}"));

    private static async Task GetAsync(RegistryInstance registry, string reference, HttpMethod? method = null)
    {
        using var response = await SendAsync(registry, method ?? HttpMethod.Get, reference);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>A time as the database keeps it (Unix milliseconds).</summary>
    private static DateTimeOffset Stored(DateTimeOffset time) => DateTimeOffset.FromUnixTimeMilliseconds(time.ToUnixTimeMilliseconds());

    [Fact]
    public async Task Pulls_are_noted_in_memory_and_written_in_one_transaction_when_the_clock_reaches_the_interval()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var registry = await RegistryInstance.StartAsync(configure: builder =>
        {
            builder.Services.AddSingleton<TimeProvider>(time);
            builder.Services.AddSingleton(new StorageOptions { PullFlushInterval = TimeSpan.FromSeconds(10) });
        });
        try
        {
            var (a, b, c) = (TestContent.Image("pull-a"), TestContent.Image("pull-b"), TestContent.Image("pull-c"));
            await registry.Client.PushImageAsync(Repository, "a", a);
            await registry.Client.PushImageAsync(Repository, "b", b);
            await registry.Client.PushImageAsync(Repository, "c", c);
            var recorder = registry.App.Services.GetRequiredService<PullRecorder>();
            var store = registry.App.Services.GetRequiredService<RegistryStore>();

            // 40 concurrent GETs of a (by tag and by digest), then 10 of b a second later.
            var pulledA = time.GetUtcNow();
            await Task.WhenAll(Enumerable.Range(0, 40).Select(i => GetAsync(registry, i % 2 == 0 ? "a" : a.Manifest.Digest.ToString())));
            time.Advance(TimeSpan.FromSeconds(1));
            var pulledB = time.GetUtcNow();
            await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => GetAsync(registry, b.Manifest.Digest.ToString())));

            // HEAD is what clients ask before a GET (and to check a tag): it is no pull, of c nor of a later on.
            time.Advance(TimeSpan.FromSeconds(1));
            await GetAsync(registry, "c", HttpMethod.Head);
            await GetAsync(registry, "a", HttpMethod.Head);
            using (var missing = await SendAsync(registry, HttpMethod.Get, "nothing-here"))
            {
                Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            }

            // Before the interval: nothing written, not one transaction per request.
            Assert.Equal(0, recorder.Writes);
            Assert.Empty(store.GetLastPulls(Repository));

            // The clock reaches the interval: every pull so far in one transaction.
            time.Advance(TimeSpan.FromSeconds(8));
            await Poll.UntilAsync(() => recorder.Writes > 0, "the pulls flushed");
            Assert.Equal(1, recorder.Writes);
            var pulls = store.GetLastPulls(Repository);
            Assert.Equal(2, pulls.Count);
            Assert.Equal(Stored(pulledA), pulls[a.Manifest.Digest]);
            Assert.Equal(Stored(pulledB), pulls[b.Manifest.Digest]);

            // An interval without pulls writes nothing; the next pull of a moves its time on, in the next one.
            time.Advance(TimeSpan.FromSeconds(10));
            await Poll.UntilAsync(() => recorder.Intervals >= 2, "the second interval, without pulls, has passed");
            Assert.Equal(1, recorder.Writes);
            var pulledAgain = time.GetUtcNow();
            await GetAsync(registry, "a");
            time.Advance(TimeSpan.FromSeconds(10));
            await Poll.UntilAsync(() => recorder.Writes == 2, "the second pull of a flushed");
            Assert.Equal(Stored(pulledAgain), store.GetLastPulls(Repository)[a.Manifest.Digest]);
            Assert.Equal(Stored(pulledB), store.GetLastPulls(Repository)[b.Manifest.Digest]);
        }
        finally
        {
            await registry.DisposeAsync();
            registry.DeleteData();
        }
    }

    [Fact]
    public async Task The_last_pull_time_is_written_at_a_graceful_stop_and_read_back_after_a_restart()
    {
        // An interval far longer than the test: only the stop can write the pull.
        string[] hourly = ["--pull-flush-interval", "01:00:00"];
        var registry = await RegistryInstance.StartAsync(extraArgs: hourly);
        var image = TestContent.Image("pull-restart");
        DateTimeOffset before;
        DateTimeOffset after;
        try
        {
            await registry.Client.PushImageAsync(Repository, "v1", image);
            before = Stored(DateTimeOffset.UtcNow);
            await GetAsync(registry, "v1");
            after = DateTimeOffset.UtcNow;
            Assert.Equal(0, registry.App.Services.GetRequiredService<PullRecorder>().Writes);
        }
        finally
        {
            await registry.DisposeAsync();
        }

        var again = await RegistryInstance.StartAsync(registry.DataRoot, hourly);
        try
        {
            var store = again.App.Services.GetRequiredService<RegistryStore>();
            var pulled = Assert.Single(store.GetLastPulls(Repository));
            Assert.Equal(image.Manifest.Digest, pulled.Key);
            Assert.InRange(pulled.Value, before, after);

            // The record goes with its manifest.
            using var delete = await again.Client.DeleteAsync($"/v2/{Repository}/manifests/{image.Manifest.Digest}");
            Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
            Assert.Empty(store.GetLastPulls(Repository));
        }
        finally
        {
            await again.DisposeAsync();
            again.DeleteData();
        }
    }

    [Fact]
    public async Task A_database_from_before_pull_times_is_upgraded_in_place_and_records_pulls()
    {
        var registry = await RegistryInstance.StartAsync();
        var image = TestContent.Image("pull-upgrade");
        try
        {
            await registry.Client.PushImageAsync(Repository, "v1", image);
        }
        finally
        {
            await registry.DisposeAsync();
        }

        // registry.db as the version before pull times left it: every other table, its manifest in place.
        var database = Path.Combine(registry.DataRoot, DataLayout.DatabaseFile);
        TestDatabase.Execute(database, "DROP TABLE IF EXISTS manifest_pulls");
        Assert.Equal(0L, TestDatabase.Scalar(database, "SELECT COUNT(*) FROM sqlite_master WHERE name='manifest_pulls'"));

        // Only the explicit flush writes (the 10 s interval could write the pull first and leave the flush nothing).
        var upgraded = await RegistryInstance.StartAsync(registry.DataRoot, ["--pull-flush-interval", "01:00:00"]);
        try
        {
            await GetAsync(upgraded, "v1");
            Assert.Equal(1, await upgraded.App.Services.GetRequiredService<PullRecorder>().FlushAsync());
            var pulled = Assert.Single(upgraded.App.Services.GetRequiredService<RegistryStore>().GetLastPulls(Repository));
            Assert.Equal(image.Manifest.Digest, pulled.Key);
        }
        finally
        {
            await upgraded.DisposeAsync();
        }

        Assert.Equal(1L, TestDatabase.Scalar(database, "SELECT COUNT(*) FROM manifest_pulls"));
        Assert.Equal(1L, TestDatabase.Scalar(database, "SELECT COUNT(*) FROM manifests"));
        TempDirectory.Delete(registry.DataRoot);
    }

    [Fact]
    public async Task With_recording_off_for_a_benchmark_nothing_is_noted_or_written()
    {
        var registry = await RegistryInstance.StartAsync(extraArgs: ["--record-pulls", "false"]);
        try
        {
            await registry.Client.PushImageAsync(Repository, "v1", TestContent.Image("pull-off"));
            await GetAsync(registry, "v1");
            var recorder = registry.App.Services.GetRequiredService<PullRecorder>();
            Assert.Equal(0, await recorder.FlushAsync());
            Assert.Equal(0, recorder.Writes);
            Assert.Empty(registry.App.Services.GetRequiredService<RegistryStore>().GetLastPulls(Repository));
        }
        finally
        {
            await registry.DisposeAsync();
            registry.DeleteData();
        }
    }
}
