using System.Net;
using System.Net.Http.Headers;
using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>
/// The free-space guard holds while writes are under way, on a real 40 MiB tmpfs: each write reserves what it declares
/// and is checked chunk by chunk as its bytes arrive, so parallel uploads that each fit alone, or a streamed upload that
/// declares nothing, never take the volume below <c>storage.minFreeBytes</c> (it was checked only when a write started:
/// three parallel uploads took such a volume to 756 KiB free).
/// </summary>
public sealed class SpaceReservationTests
{
    private const long MinFree = 8L * 1024 * 1024;
    private const int MiB = 1024 * 1024;

    [Fact]
    public async Task Parallel_uploads_that_each_fit_alone_do_not_take_the_volume_below_the_minimum_together()
    {
        await using var volume = await TmpfsVolume.MountAsync("space-reservation", 40);
        await using var registry = await StartAsync(volume);
        var blobs = Enumerable.Range(0, 3).Select(i => new TestBlob(TestContent.Bytes($"reserve-{i}", 12 * MiB), TestContent.LayerType)).ToList();
        Assert.True(volume.FreeBytes - MinFree > 12L * MiB * 2, $"each upload fits alone: {volume.FreeBytes} free");

        using var lowest = new LowestFree(volume);
        var answers = await Task.WhenAll(blobs.Select((blob, i) => SendAsync(
            registry.Client, HttpMethod.Post, $"/v2/parallel/app{i}/blobs/uploads/?digest={blob.Digest}", new SlowContent(blob.Bytes, 256 * 1024, TimeSpan.FromMilliseconds(5)))));

        var refused = answers.Where(a => a.StatusCode == HttpStatusCode.InsufficientStorage).ToList();
        Assert.NotEmpty(refused);
        Assert.All(answers, a => Assert.Contains(a.StatusCode, (HttpStatusCode[])[HttpStatusCode.Created, HttpStatusCode.InsufficientStorage]));
        var envelope = JObject.Parse(await refused[0].Content.ReadAsStringAsync());
        Assert.Equal("INSUFFICIENT_STORAGE", envelope["errors"]![0]!["code"]!.Value<string>());
        Assert.Equal(MinFree, envelope["errors"]![0]!["detail"]!["minFreeBytes"]!.Value<long>());
        Assert.True(lowest.Bytes >= MinFree, $"the volume went down to {lowest.Bytes} bytes free, below the minimum {MinFree}");
        Assert.Equal(0, registry.App.Services.GetRequiredService<FreeSpaceGuard>().ReservedBytes);
        Assert.Empty(Directory.GetFiles(Path.Combine(volume.Path, "staging")));
        StoreVerifier.Verify(volume.Path);
    }

    [Fact]
    public async Task A_streamed_chunk_that_declares_nothing_is_cut_where_it_would_go_below_the_minimum()
    {
        await using var volume = await TmpfsVolume.MountAsync("space-reservation-stream", 40);
        await using var registry = await StartAsync(volume);
        var client = registry.Client;
        var session = await client.PostAsync("/v2/streamed/app/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, session.StatusCode);

        // More than the volume can take above the minimum, with no Content-Length (chunked, as docker streams a layer).
        var bytes = TestContent.Bytes("streamed", (int)(volume.FreeBytes - MinFree) + (4 * MiB));
        using var lowest = new LowestFree(volume);
        var chunk = await SendAsync(client, HttpMethod.Patch, session.Headers.Location!.ToString(), new SlowContent(bytes, 256 * 1024, TimeSpan.FromMilliseconds(2), chunked: true));

        Assert.Equal(HttpStatusCode.InsufficientStorage, chunk.StatusCode);
        Assert.Equal("INSUFFICIENT_STORAGE", await chunk.ErrorCodeAsync());
        Assert.True(lowest.Bytes >= MinFree - MiB, $"the volume went down to {lowest.Bytes} bytes free, more than a chunk below the minimum {MinFree}");
        var status = await client.GetAsync(session.Headers.Location);
        Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
        Assert.Equal("0-0", status.Headers.GetValues("Range").Single()); // the cut chunk's bytes were dropped
        Assert.Equal(0, registry.App.Services.GetRequiredService<FreeSpaceGuard>().ReservedBytes);

        // The space is there again for a write that fits.
        var small = new TestBlob(TestContent.Bytes("after", MiB), TestContent.LayerType);
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(client, HttpMethod.Post, $"/v2/streamed/app/blobs/uploads/?digest={small.Digest}", new ByteArrayContent(small.Bytes))).StatusCode);
    }

    private static async Task<RegistryInstance> StartAsync(TmpfsVolume volume)
    {
        var registry = await RegistryInstance.StartAsync(volume.Path);
        registry.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(new RegistrySettings
        {
            Name = "space-reservation-edge",
            Storage = new StorageSettings { MinFreeBytes = MinFree },
        });
        return registry;
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string uri, HttpContent content)
    {
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var request = new HttpRequestMessage(method, uri) { Content = content };
        return await client.SendAsync(request);
    }

    /// <summary>A body sent in slices with a pause between them, so that writes overlap; chunked when asked (no length).</summary>
    private sealed class SlowContent(byte[] bytes, int slice, TimeSpan pause, bool chunked = false) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (var offset = 0; offset < bytes.Length; offset += slice)
            {
                await stream.WriteAsync(bytes.AsMemory(offset, Math.Min(slice, bytes.Length - offset)));
                await stream.FlushAsync();
                await Task.Delay(pause);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = bytes.Length;
            return !chunked;
        }
    }
}
