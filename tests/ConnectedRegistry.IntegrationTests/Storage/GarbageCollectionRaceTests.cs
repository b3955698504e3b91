using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Storage;

public sealed class GarbageCollectionRaceTests
{
    /// <summary>
    /// With a grace period of a fifth of a second, collection running in a loop may take a blob away from
    /// a push in progress (the manifest PUT then fails with MANIFEST_BLOB_UNKNOWN and the client uploads
    /// again), but it must never leave a stored manifest referencing a missing blob.
    /// </summary>
    [Fact]
    public async Task Collection_in_a_loop_never_breaks_a_committed_manifest()
    {
        await using var registry = await RegistryInstance.StartAsync(extraArgs: ["--gc-grace", "00:00:00.2"]);
        try
        {
            var settings = registry.App.Services.GetRequiredService<RegistrySettingsStore>();
            settings.Apply(settings.Current with { GarbageCollection = new GarbageCollectionSettings { Enabled = false, DeleteUntaggedManifests = true } });
            var collector = registry.App.Services.GetRequiredService<IGarbageCollector>();
            using var stop = new CancellationTokenSource();
            var collections = 0;
            var gc = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    await collector.CollectAsync(CancellationToken.None);
                    collections++;
                    await Task.Delay(5);
                }
            });

            var committed = 0;
            var refused = 0;
            await Task.WhenAll(Enumerable.Range(0, 3).Select(worker => Task.Run(async () =>
            {
                for (var i = 0; i < 15; i++)
                {
                    var image = TestContent.Image($"race-{worker}-{i % 5}", layers: 2, layerSize: 20_000);
                    for (var attempt = 0; attempt < 5; attempt++)
                    {
                        foreach (var blob in image.Blobs)
                        {
                            await registry.Client.PushBlobAsync($"race/w{worker}", blob);
                        }

                        var put = await registry.Client.PutManifestAsync($"race/w{worker}", $"t{i % 2}", image.Manifest);
                        if (put.StatusCode == HttpStatusCode.Created)
                        {
                            Interlocked.Increment(ref committed);
                            break;
                        }

                        Assert.Equal("MANIFEST_BLOB_UNKNOWN", await put.ErrorCodeAsync());
                        Interlocked.Increment(ref refused);
                    }
                }
            })));
            await stop.CancelAsync();
            await gc;

            Assert.True(committed > 0, "no push got through");
            Assert.True(collections > 1, "collection did not run concurrently");
            StoreVerifier.Verify(registry.DataRoot);
            foreach (var worker in Enumerable.Range(0, 3))
            {
                foreach (var tag in new[] { "t0", "t1" })
                {
                    var manifest = await registry.Client.GetAsync($"/v2/race/w{worker}/manifests/{tag}");
                    if (manifest.StatusCode == HttpStatusCode.OK)
                    {
                        var parsed = ConnectedRegistry.Oci.ManifestParser.Parse(await manifest.Content.ReadAsByteArrayAsync(), null);
                        foreach (var blob in parsed.RequiredBlobs)
                        {
                            Assert.Equal(HttpStatusCode.OK, (await registry.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/race/w{worker}/blobs/{blob.Digest}"))).StatusCode);
                        }
                    }
                }
            }
        }
        finally
        {
            registry.DeleteData();
        }
    }
}
