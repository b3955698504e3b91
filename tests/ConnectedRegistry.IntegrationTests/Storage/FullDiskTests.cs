using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>
/// A full data volume, for real: the registry's data root is a 40 MiB tmpfs mounted by the test (as root). Pushes fill it
/// until the free-space guard refuses them; a write that hits ENOSPC midway leaves nothing behind; pulls keep working; sync
/// down pauses; garbage collection frees space and everything resumes on its own.
/// </summary>
public sealed class FullDiskTests : IAsyncLifetime
{
    private const long MinFree = 8L * 1024 * 1024;

    /// <summary>What the databases may write into the minimum after the last content was taken (they are not reserved).</summary>
    private const long DatabaseSlack = 1024 * 1024;
    private const int LayerSize = 3 * 1024 * 1024;
    private readonly string _mount = TempDirectory.Create("full-disk");
    private readonly string _outside = TempDirectory.Create("full-disk-twin");
    private RegistryInstance? _parent;
    private RegistryInstance? _registry;
    private bool _mounted;

    private string DesiredFile => Path.Combine(_outside, "desired.json");

    private string ReportedFile => Path.Combine(_outside, "reported.json");

    private string EventsFile => Path.Combine(_outside, "events.jsonl");

    public async Task InitializeAsync()
    {
        await RunAsync("mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", _mount);
        _mounted = true;
        _parent = await RegistryInstance.StartAsync();
        await _parent.Client.PushImageAsync("up/base", "1", TestContent.Image("full-disk-up", layers: 1, layerSize: 1024));
        WriteDesired(MinFree);
        _registry = await RegistryInstance.StartAsync(
            _mount,
            ["--desired", DesiredFile, "--reported", ReportedFile, "--events", EventsFile, "--gc-grace", "00:00:00", "--Twin:ReportIntervalMs", "100"],
            b => b.Services.AddSingleton(new SyncSchedulerOptions { IdleDelay = TimeSpan.FromMilliseconds(200), RetryDelay = TimeSpan.FromMilliseconds(200) }));
    }

    public async Task DisposeAsync()
    {
        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }

        if (_parent is not null)
        {
            await _parent.DisposeAsync();
            _parent.DeleteData();
        }

        if (_mounted)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools(); // pooled connections keep the databases on the mount open
            await RunAsync("umount", "--lazy", _mount);
        }

        TempDirectory.Delete(_mount);
        TempDirectory.Delete(_outside);
    }

    [Fact]
    public async Task Pushes_fill_the_volume_until_refused_pulls_work_and_garbage_collection_brings_pushes_back()
    {
        var registry = _registry!;
        var client = registry.Client;
        await Poll.UntilAsync(async () => (await client.GetAsync("/v2/up/base/manifests/1")).StatusCode == HttpStatusCode.OK, "the first sync down");

        // Fill: one 3 MiB image after another, until the registry says no.
        var pushed = new List<(string Repository, TestImage Image)>();
        HttpResponseMessage? refusal = null;
        for (var i = 0; i < 20 && refusal is null; i++)
        {
            var image = TestContent.Image($"full-disk-{i}", layers: 1, layerSize: LayerSize);
            var repository = $"fill/img{i}";
            foreach (var blob in image.Blobs)
            {
                var start = await client.PostAsync($"/v2/{repository}/blobs/uploads/", null);
                if (start.StatusCode != HttpStatusCode.Accepted)
                {
                    refusal = start;
                    break;
                }

                // The blob's Content-Length is reserved: a blob that would take the volume below the minimum is refused before
                // a byte is read. The refusal can come at any step of a push (the POST's own writes, the session's row and the
                // change log, and the sync passes' writes use the last kilobytes too); it still keeps nothing: the session stays empty.
                var put = await PutBlobAsync(client, start.Headers.Location!, blob);
                if (put.StatusCode != HttpStatusCode.Created)
                {
                    refusal = put;
                    Assert.Equal(HttpStatusCode.InsufficientStorage, put.StatusCode);
                    var upload = await client.GetAsync(start.Headers.Location);
                    Assert.Equal(HttpStatusCode.NoContent, upload.StatusCode);
                    Assert.Equal("0-0", upload.Headers.GetValues("Range").Single());
                    Assert.False(File.Exists(Path.Combine(_mount, "blobs", "sha256", blob.Digest.Hex[..2], blob.Digest.Hex)));
                    Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync(start.Headers.Location)).StatusCode);
                    break;
                }
            }

            if (refusal is null)
            {
                var manifest = await client.PutManifestAsync(repository, "1", image.Manifest);
                if (manifest.StatusCode == HttpStatusCode.Created)
                {
                    pushed.Add((repository, image));
                }
                else
                {
                    refusal = manifest; // the layer went below the minimum: the manifest push is refused
                }
            }
        }

        // The refusal: at once (nothing of that blob was written), the status that names the cause, the OCI envelope, a clear message.
        Assert.NotNull(refusal);
        Assert.InRange(pushed.Count, 5, 12); // 40 MiB less the 8 MiB kept free, in 3 MiB images
        Assert.Equal(HttpStatusCode.InsufficientStorage, refusal.StatusCode);
        var envelope = JObject.Parse(await refusal.Content.ReadAsStringAsync());
        Assert.Equal("INSUFFICIENT_STORAGE", envelope["errors"]![0]!["code"]!.Value<string>());
        Assert.Contains("storage is full", envelope["errors"]![0]!["message"]!.Value<string>(), StringComparison.Ordinal);
        Assert.Equal(MinFree, envelope["errors"]![0]!["detail"]!["minFreeBytes"]!.Value<long>());
        // The pushes kept the minimum free of content; the databases' own writes (pages and write-ahead logs: the
        // session rows, the change log, the outbox, a sync pass's) are not reserved and may use some of it, which is
        // what it is kept for. Under a CPU hog they took up to a few hundred KiB of it after the refusal.
        var freeAfterPushes = new DriveInfo(_mount).AvailableFreeSpace;
        Assert.True(freeAfterPushes >= MinFree - DatabaseSlack, $"the pushes kept the minimum free: {freeAfterPushes} bytes free, minimum {MinFree}");

        // Something else on the volume (a log, another container) takes it below the minimum: now even a manifest is refused.
        var filler = Path.Combine(_mount, "other-tenant");
        await File.WriteAllBytesAsync(filler, new byte[new DriveInfo(_mount).AvailableFreeSpace - MinFree + (1024 * 1024)]);
        var manifestRefusal = await client.PutManifestAsync("fill/img0", "again", pushed[0].Image.Manifest);
        Assert.Equal(HttpStatusCode.InsufficientStorage, manifestRefusal.StatusCode);
        Assert.Equal(HttpStatusCode.InsufficientStorage, (await client.PostAsync("/v2/fill/other/blobs/uploads/", null)).StatusCode);

        // Pulls keep working.
        var (firstRepository, firstImage) = pushed[0];
        var layer = firstImage.Layers[0];
        var pulled = await client.GetByteArrayAsync($"/v2/{firstRepository}/blobs/{layer.Digest}");
        Assert.Equal(layer.Bytes, pulled);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v2/{firstRepository}/manifests/1")).StatusCode);

        // Reported: DiskFull with the free bytes; sync down paused, so Unhealthy.
        registry.App.Services.GetRequiredService<SyncScheduler>().SyncNow();
        await Poll.UntilAsync(() => Task.FromResult(Reported()["connectionState"]?.Value<string>() == ConnectionStates.Unhealthy), "Unhealthy while full");
        var detail = Reported()["statusDetails"]!.Single(d => d["code"]!.Value<string>() == FreeSpaceGuard.DiskFullCode);
        Assert.Equal("Error", detail["type"]!.Value<string>());
        Assert.Matches("the data volume has [0-9]+ bytes free, below storage.minFreeBytes \\(8388608\\)", detail["description"]!.Value<string>());
        Assert.Contains(Events(), e => e["type"]!.Value<string>() == EventTypes.StorageFull && e["minFreeBytes"]!.Value<long>() == MinFree);

        File.Delete(filler);

        // A write larger than the volume (the guard lowered to 0): 507 before it starts, and nothing of it stays.
        WriteDesired(0);
        await Poll.UntilAsync(() => Task.FromResult(registry.App.Services.GetRequiredService<IRegistrySettingsSource>().Current.Storage.MinFreeBytes == 0), "minFreeBytes 0 applied");
        var free = new DriveInfo(_mount).AvailableFreeSpace;
        var tooBig = new TestBlob(TestContent.Bytes("full-disk-too-big", (int)free + (2 * 1024 * 1024)), TestContent.LayerType);
        var monolithic = await SendAsync(client, HttpMethod.Post, $"/v2/fill/big/blobs/uploads/?digest={tooBig.Digest}", tooBig.Bytes);
        Assert.Equal(HttpStatusCode.InsufficientStorage, monolithic.StatusCode);
        Assert.Empty(Directory.GetFiles(Path.Combine(_mount, "staging")));
        Assert.False(File.Exists(Path.Combine(_mount, "blobs", "sha256", tooBig.Digest.Hex[..2], tooBig.Digest.Hex)));

        var session = await client.PostAsync("/v2/fill/big/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, session.StatusCode);
        var chunk = await SendAsync(client, HttpMethod.Patch, session.Headers.Location!.ToString(), tooBig.Bytes);
        Assert.Equal(HttpStatusCode.InsufficientStorage, chunk.StatusCode);
        var status = await client.GetAsync(session.Headers.Location);
        Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
        Assert.False(status.Headers.TryGetValues("Range", out var range) && range.Single() != "0-0" && range.Single() != "0--1", "the cut chunk's bytes were dropped");
        Assert.True(new DriveInfo(_mount).AvailableFreeSpace >= free - (1024 * 1024), "the cut chunk freed its space");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync(session.Headers.Location)).StatusCode);
        WriteDesired(MinFree);
        await Poll.UntilAsync(() => Task.FromResult(registry.App.Services.GetRequiredService<IRegistrySettingsSource>().Current.Storage.MinFreeBytes == MinFree), "minFreeBytes back");

        // Free space: delete the images, collect garbage (what the garbageCollect method runs); pushes resume by themselves.
        foreach (var (repository, image) in pushed)
        {
            Assert.Equal(HttpStatusCode.Accepted, (await client.DeleteAsync($"/v2/{repository}/manifests/{image.Manifest.Digest}")).StatusCode);
        }

        var collected = await registry.App.Services.GetRequiredService<IGarbageCollector>().CollectAsync(CancellationToken.None);
        Assert.True(collected.BytesFreed >= pushed.Count * (long)LayerSize, $"freed {collected.BytesFreed}");
        await client.PushImageAsync("fill/after", "1", TestContent.Image("full-disk-after", layers: 1, layerSize: LayerSize));
        await Poll.UntilAsync(() => Task.FromResult(Reported()["statusDetails"]?.Any(d => d["code"]?.Value<string>() == FreeSpaceGuard.DiskFullCode) != true), "DiskFull cleared");
        registry.App.Services.GetRequiredService<SyncScheduler>().SyncNow();
        await Poll.UntilAsync(() => Task.FromResult(Reported()["connectionState"]?.Value<string>() == ConnectionStates.Online), "Online again");
        Assert.Contains(Events(), e => e["type"]!.Value<string>() == EventTypes.StorageRecovered);

        // Nothing half-written anywhere.
        Assert.Empty(Directory.GetFiles(Path.Combine(_mount, "staging")));
        StoreVerifier.Verify(_mount);
    }

    private void WriteDesired(long minFreeBytes)
    {
        var desired = new JObject
        {
            ["schemaVersion"] = "1.0",
            ["name"] = "full-disk-edge",
            ["parent"] = _parent is null ? null : new JObject { ["endpoint"] = _parent.BaseAddress.ToString() },
            ["sync"] = new JObject { ["repositories"] = new JArray("up/*") },
            ["notifications"] = new JArray("*:*"),
            ["storage"] = new JObject { ["minFreeBytes"] = minFreeBytes },
        };
        var temp = DesiredFile + ".tmp";
        File.WriteAllText(temp, desired.ToString());
        File.Move(temp, DesiredFile, overwrite: true);
    }

    private JObject Reported() => File.Exists(ReportedFile) ? TryParse(File.ReadAllText(ReportedFile)) : new JObject();

    private List<JObject> Events() => File.Exists(EventsFile) ? [.. File.ReadAllLines(EventsFile).Select(JObject.Parse)] : [];

    private static JObject TryParse(string text)
    {
        try
        {
            return JObject.Parse(text);
        }
        catch (Newtonsoft.Json.JsonException)
        {
            return new JObject();
        }
    }

    private static Task<HttpResponseMessage> PutBlobAsync(HttpClient client, Uri location, TestBlob blob)
    {
        var separator = location.ToString().Contains('?', StringComparison.Ordinal) ? '&' : '?';
        return SendAsync(client, HttpMethod.Put, $"{location}{separator}digest={blob.Digest}", blob.Bytes);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string uri, byte[] body)
    {
        using var request = new HttpRequestMessage(method, uri) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return await client.SendAsync(request);
    }

    private static async Task RunAsync(string file, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardError = true })!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)} failed (this test needs root): {error}");
    }
}
