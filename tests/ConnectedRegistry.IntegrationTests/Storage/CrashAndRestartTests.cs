using System.Net;
using ConnectedRegistry.IntegrationTests.Distribution;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.IntegrationTests.Storage;

public sealed class CrashAndRestartTests
{
    [Fact]
    public async Task Chunked_upload_continues_after_a_restart()
    {
        var data = TestContent.Bytes("restart-upload", 200_000);
        var digest = Digest.Compute(data);
        string location;
        string dataRoot;
        await using (var first = await RegistryInstance.StartAsync())
        {
            dataRoot = first.DataRoot;
            location = await RegistryHttp.StartUploadAsync(first.Client, "restart/upload");
            var patch = await RegistryHttp.PatchUploadAsync(first.Client, location, data[..120_000], 0);
            Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
        }

        await using var second = await RegistryInstance.StartAsync(dataRoot);
        try
        {
            var status = await second.Client.GetAsync(location);
            Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
            Assert.Equal("0-119999", Assert.Single(status.Headers.GetValues("Range")));

            var rest = await RegistryHttp.PatchUploadAsync(second.Client, location, data[120_000..], 120_000);
            Assert.Equal(HttpStatusCode.Accepted, rest.StatusCode);
            var put = await second.Client.PutAsync($"{location}?digest={digest}", null);
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            Assert.Equal(data, await second.Client.GetByteArrayAsync($"/v2/restart/upload/blobs/{digest}"));
        }
        finally
        {
            second.DeleteData();
        }
    }

    [Fact]
    public async Task Content_is_intact_after_a_restart()
    {
        var image = TestContent.Image("restart-intact");
        var artifact = TestContent.Artifact("restart-sig", "application/vnd.example.sig", image.Manifest);
        string dataRoot;
        await using (var first = await RegistryInstance.StartAsync())
        {
            dataRoot = first.DataRoot;
            await first.Client.PushImageAsync("restart/app", "v1", image);
            await first.Client.PushImageAsync("restart/app", artifact.Manifest.Digest.ToString(), artifact);
        }

        await using var second = await RegistryInstance.StartAsync(dataRoot);
        try
        {
            Assert.Equal(image.Manifest.Bytes, await second.Client.GetByteArrayAsync("/v2/restart/app/manifests/v1"));
            foreach (var blob in image.Blobs)
            {
                Assert.Equal(blob.Bytes, await second.Client.GetByteArrayAsync($"/v2/restart/app/blobs/{blob.Digest}"));
            }

            Assert.Contains("\"v1\"", await second.Client.GetStringAsync("/v2/restart/app/tags/list"));
            Assert.Contains(artifact.Manifest.Digest.ToString(), await second.Client.GetStringAsync($"/v2/restart/app/referrers/{image.Manifest.Digest}"));
            Assert.Contains("restart/app", await second.Client.GetStringAsync("/v2/_catalog"));
        }
        finally
        {
            second.DeleteData();
        }
    }

    [Fact]
    public async Task Kill_9_mid_push_leaves_a_consistent_store()
    {
        var dataRoot = TempDirectory.Create("crash");
        try
        {
            var pushed = 0;
            for (var round = 0; round < 3; round++)
            {
                using var registry = await RegistryProcess.StartAsync(dataRoot);
                using var stop = new CancellationTokenSource();
                var before = Volatile.Read(ref pushed);
                var pushers = Enumerable.Range(0, 4).Select(worker => PushUntilKilledAsync(registry.Client, round, worker, () => Interlocked.Increment(ref pushed), stop.Token)).ToList();

                // Kill once a push of this round has landed (so every round proves something however loaded
                // the machine is), then a little later, while the other workers are mid-push.
                await Poll.UntilAsync(() => Volatile.Read(ref pushed) != before, $"a push of round {round} landing", TimeSpan.FromSeconds(60));

                await Task.Delay(TimeSpan.FromMilliseconds(150 + (round * 200)));
                registry.KillHard();
                await stop.CancelAsync();
                await Task.WhenAll(pushers);
            }

            Assert.True(pushed > 0, "no push completed before the kills: the test proved nothing");

            // The store opens cleanly and serves everything it lists.
            await using (var restarted = await RegistryInstance.StartAsync(dataRoot))
            {
                Assert.Empty(Directory.GetFiles(Path.Combine(dataRoot, "staging")));
                foreach (var (repository, tag, digest) in ReadTags(dataRoot))
                {
                    var response = await restarted.Client.GetAsync($"/v2/{repository}/manifests/{tag}");
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    Assert.Equal(digest, Digest.Compute(await response.Content.ReadAsByteArrayAsync()).ToString());
                }
            }

            StoreVerifier.Verify(dataRoot);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            TempDirectory.Delete(dataRoot);
        }
    }

    private static async Task PushUntilKilledAsync(HttpClient client, int round, int worker, Action completed, CancellationToken stop)
    {
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            try
            {
                var image = TestContent.Image($"crash-{round}-{worker}-{i}", layers: 2, layerSize: 600_000 + (i * 1000));
                var repository = $"crash/w{worker}";
                foreach (var (blob, n) in image.Blobs.Select((b, n) => (b, n)))
                {
                    if (n % 2 == 0)
                    {
                        await client.PushBlobAsync(repository, blob);
                    }
                    else
                    {
                        var location = await RegistryHttp.StartUploadAsync(client, repository);
                        var half = blob.Bytes.Length / 2;
                        var patch = await RegistryHttp.PatchUploadAsync(client, location, blob.Bytes[..half], 0);
                        location = patch.Headers.Location!.OriginalString;
                        await RegistryHttp.PatchUploadAsync(client, location, blob.Bytes[half..], half);
                        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync($"{location}?digest={blob.Digest}", null, stop)).StatusCode);
                    }
                }

                Assert.Equal(HttpStatusCode.Created, (await client.PutManifestAsync(repository, $"r{round}-{i % 3}", image.Manifest)).StatusCode);
                completed();
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or OperationCanceledException or IOException)
            {
                return; // the registry died under us: that is the point
            }
        }
    }

    private static List<(string Repository, string Tag, string Digest)> ReadTags(string dataRoot)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(dataRoot, "registry.db")};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT repository, tag, digest FROM tags";
        using var reader = command.ExecuteReader();
        var list = new List<(string, string, string)>();
        while (reader.Read())
        {
            list.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2)));
        }

        return list;
    }
}
