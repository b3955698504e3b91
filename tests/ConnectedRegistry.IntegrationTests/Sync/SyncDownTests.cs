using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using ConnectedRegistry.Twin;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>Sync down from a real docker-registry into a real instance of this module.</summary>
public sealed class SyncDownTests
{
    [Fact]
    public async Task Subset_with_multi_platform_image_and_signature_arrives_whole_with_identical_digests()
    {
        await using var h = await SyncHarness.StartAsync();
        var shared = h.Layout.Layer(20_000);
        var amd = h.Layout.Image("amd64", shared, h.Layout.Layer(30_000));
        var arm = h.Layout.Image("arm64", shared, h.Layout.Layer(30_000));
        var index = h.Layout.Index(amd, arm);
        h.Layout.Tag(index, "multi");
        var simple = h.Layout.SimpleImage("simple");
        await h.Parent.PushAsync(h.LayoutDir, "multi", "apps/web", "v1");
        await h.Parent.PushAsync(h.LayoutDir, "simple", "apps/tools/cli", "1.0");
        await h.Parent.PushAsync(h.LayoutDir, "simple", "base", "latest");
        await h.Parent.PushAsync(h.LayoutDir, "simple", "other/db", "latest");
        await h.Parent.PushAsync(h.LayoutDir, "simple", "appsx", "latest");

        // A signature of the index, published with the referrers tag schema (docker-registry has no referrers API).
        using var parent = h.ParentClient();
        var signature = System.Text.Encoding.UTF8.GetBytes("signed " + index.Digest);
        var signatureDigest = Digest.Compute(signature);
        await parent.UploadBlobAsync("apps/web", signatureDigest, new MemoryStream(signature), signature.Length, default);
        var empty = "{}"u8.ToArray();
        await parent.UploadBlobAsync("apps/web", Digest.Compute(empty), new MemoryStream(empty), 2, default);
        var artifact = TestContent.ArtifactManifest(index, signatureDigest, signature.Length);
        var artifactDigest = await parent.PutManifestAsync("apps/web", Digest.Compute(artifact).ToString(), artifact, MediaTypes.OciManifest, default);
        await parent.PutManifestAsync("apps/web", $"sha256-{index.Digest.Hex}", TestContent.Json(new JObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciIndex,
            ["manifests"] = new JArray(new JObject { ["mediaType"] = MediaTypes.OciManifest, ["digest"] = artifactDigest.ToString(), ["size"] = artifact.Length, ["artifactType"] = "application/vnd.example.signature" }),
        }), MediaTypes.OciIndex, default);

        var result = await h.RunPassAsync();

        Assert.Equal(["apps/tools/cli", "apps/web", "base"], result.Repositories);
        Assert.Empty(result.Failures);
        Assert.Equal(["apps/tools/cli", "apps/web", "base"], h.Store.ListRepositories());
        Assert.Equal(index.Digest, h.Store.GetManifest("apps/web", "v1")!.Digest);
        Assert.NotNull(h.Store.GetManifest("apps/web", amd.Digest.ToString()));
        Assert.NotNull(h.Store.GetManifest("apps/web", arm.Digest.ToString()));
        Assert.Equal(simple.Digest, h.Store.GetManifest("base", "latest")!.Digest);
        var referrer = Assert.Single(h.Store.ListReferrers("apps/web", index.Digest));
        Assert.Equal(artifactDigest, referrer.Digest);
        Assert.Equal("application/vnd.example.signature", referrer.ArtifactType);
        Assert.True(h.Store.BlobExists(signatureDigest));

        // Every blob crossed the wire once: the shared layer, and the simple image's blobs used by two repositories.
        Assert.Equal(10, result.BlobsFetched);
        var storedBytes = Directory.EnumerateFiles(Path.Combine(h.Child.DataRoot, "blobs"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.Equal(storedBytes, result.BytesDownloaded);

        // A real client pulls the synced multi-platform image from the child, verifying every digest.
        var pulled = TempDirectory.Create("pulled");
        try
        {
            await Skopeo.RunAsync(["copy", "--all", "--quiet", "--src-tls-verify=false", $"docker://{h.Child.HostPort}/apps/web:v1", $"oci:{pulled}:v1"]);
            var pulledIndex = JObject.Parse(await File.ReadAllTextAsync(Path.Combine(pulled, "index.json")));
            Assert.Equal(index.Digest.ToString(), (string?)pulledIndex["manifests"]![0]!["digest"]);
        }
        finally
        {
            TempDirectory.Delete(pulled);
        }

        // Nothing changed: the next pass transfers nothing and moves no tag.
        var again = await h.RunPassAsync();
        Assert.Equal(0, again.BytesDownloaded);
        Assert.Equal(0, again.TagsUpdated);
        Assert.Equal(0, again.ManifestsStored);
        var progress = h.State.Snapshot().Sync.Progress!;
        Assert.Equal("Completed", progress.State);
        Assert.Equal(3, progress.RepositoriesDone);
        Assert.Equal(3, progress.RepositoriesTotal);
    }

    [Fact]
    public async Task Tags_repointed_or_removed_at_the_parent_follow_but_local_pushes_stay()
    {
        await using var h = await SyncHarness.StartAsync();
        var first = h.Layout.SimpleImage("first", layerCount: 1);
        var second = h.Layout.SimpleImage("second", layerCount: 1);
        await h.Parent.PushAsync(h.LayoutDir, "first", "apps/api", "stable");
        await h.Parent.PushAsync(h.LayoutDir, "second", "apps/api", "old");
        await h.RunPassAsync();
        Assert.Equal(first.Digest, h.Store.GetManifest("apps/api", "stable")!.Digest);
        Assert.Equal(second.Digest, h.Store.GetManifest("apps/api", "old")!.Digest);

        // A client pushes its own tag to the child (ReadWrite): sync down must leave it alone.
        await Skopeo.RunAsync(["copy", "--quiet", "--dest-tls-verify=false", $"oci:{h.LayoutDir}:first", $"docker://{h.Child.HostPort}/apps/api:local"]);

        using var parent = h.ParentClient();
        var third = h.Layout.SimpleImage("third", layerCount: 1);
        await h.Parent.PushAsync(h.LayoutDir, "third", "apps/api", "stable"); // repointed
        Assert.True(await parent.DeleteManifestAsync("apps/api", second.Digest, default)); // removes "old"

        var result = await h.RunPassAsync();
        Assert.Equal(1, result.TagsUpdated);
        Assert.Equal(1, result.TagsRemoved);
        Assert.Equal(third.Digest, h.Store.GetManifest("apps/api", "stable")!.Digest);
        Assert.Null(h.Store.GetManifest("apps/api", "old"));
        Assert.Equal(first.Digest, h.Store.GetManifest("apps/api", "local")!.Digest);
    }

    [Fact]
    public async Task Parent_killed_mid_transfer_resumes_with_range_without_refetching_finished_blobs()
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        var small1 = h.Layout.Layer(50_000);
        var small2 = h.Layout.Layer(60_000);
        var big = h.Layout.Layer(6_000_000);
        var image = await h.PushImageToParentAsync("apps/big", small1, small2, big);
        var proxy = h.Proxy!;
        var bigPath = "/blobs/" + big.Digest;
        var killed = 0;
        proxy.Throttle = TimeSpan.FromMilliseconds(2);
        proxy.CutWhen = (path, sent) =>
        {
            if (path.EndsWith(bigPath, StringComparison.Ordinal) && sent >= 1_000_000 && Interlocked.Exchange(ref killed, 1) == 0)
            {
                h.Parent.StopAsync().GetAwaiter().GetResult(); // the parent dies while the blob is on the wire
                return true;
            }

            return false;
        };

        var error = await Assert.ThrowsAnyAsync<Exception>(() => h.RunPassAsync());
        Assert.IsNotType<LocalStorageException>(error); // a broken transfer is the network's, never a disk error
        Assert.Null(h.Store.GetManifest("apps/big", "v1"));
        Assert.False(h.Store.BlobExists(big.Digest));
        var partial = h.Partials.GetLength(big.Digest);
        Assert.InRange(partial, 1, big.Size - 1);
        Assert.True(h.Store.BlobExists(small1.Digest));
        Assert.True(h.Store.BlobExists(small2.Digest));

        await h.Parent.StartAsync();
        proxy.Throttle = TimeSpan.Zero;
        await Task.Delay(600); // let the open circuit half-open
        var result = await h.RunPassAsync();

        AssertResumed(h, result, "apps/big", image, big, partial);
        Assert.True(h.Store.BlobExists(big.Digest));
        Assert.Single(proxy.RequestsFor("/blobs/" + small1.Digest));
        Assert.Single(proxy.RequestsFor("/blobs/" + small2.Digest));
    }

    [Fact]
    public async Task Window_closing_mid_blob_and_module_restart_resume_with_range()
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        var big = h.Layout.Layer(3_000_000);
        var image = await h.PushImageToParentAsync("apps/slow", big);
        var proxy = h.Proxy!;
        var bigPath = "/blobs/" + big.Digest;
        proxy.Throttle = TimeSpan.FromMilliseconds(5);

        // The window closes (the pass is cancelled) while the blob is half way.
        using var window = new CancellationTokenSource();
        proxy.CutWhen = (path, sent) =>
        {
            if (path.EndsWith(bigPath, StringComparison.Ordinal) && sent >= 500_000)
            {
                window.Cancel();
            }

            return false;
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => h.RunPassAsync(window.Token));
        var partial = h.Partials.GetLength(big.Digest);
        Assert.InRange(partial, 1, big.Size - 1);
        Assert.Null(h.Store.GetManifest("apps/slow", "v1"));
        Assert.Equal("Paused", h.State.Snapshot().Sync.Progress!.State);

        // The module restarts; the next window resumes from the stored bytes.
        proxy.CutWhen = null;
        proxy.Throttle = TimeSpan.Zero;
        await h.RestartChildAsync();
        Assert.Equal(partial, h.Partials.GetLength(big.Digest));
        var result = await h.RunPassAsync();

        AssertResumed(h, result, "apps/slow", image, big, partial);
    }

    /// <summary>The pass after an interruption completed the image, asking the parent only for the rest of the blob.</summary>
    private static void AssertResumed(SyncHarness h, SyncDownResult result, string repository, TestBlob image, TestBlob big, long partial)
    {
        Assert.Empty(result.Failures);
        Assert.Equal(image.Digest, h.Store.GetManifest(repository, "v1")!.Digest);
        var resumed = h.Proxy!.RequestsFor("/blobs/" + big.Digest).Last();
        Assert.Equal($"bytes={partial}-", resumed.Range);
        Assert.Equal(big.Size - partial, resumed.BodyBytes);
        Assert.Equal(big.Size - partial, result.BytesDownloaded);
    }

    [Fact]
    public async Task Repository_the_parent_refuses_fails_alone_and_the_others_still_sync()
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        var image = h.Layout.SimpleImage("v1", layerCount: 1);
        await h.Parent.PushAsync(h.LayoutDir, "v1", "base", "v1");
        h.Proxy!.RespondWith = path => path.StartsWith("/v2/apps/secret/", StringComparison.Ordinal) ? 403 : null;
        h.Configure(["apps/secret", "base"]);

        // One repository the sync token may not read (or that the parent refuses as a name) is that repository's
        // failure: the others still sync, and the pass ends incomplete, not failed as if the parent were down.
        var error = await Assert.ThrowsAsync<SyncIncompleteException>(() => h.RunPassAsync());
        Assert.Contains("apps/secret", error.Message, StringComparison.Ordinal);
        Assert.Equal(image.Digest, h.Store.GetManifest("base", "v1")!.Digest);
        Assert.Contains(h.Sync.LastResult!.Failures, f => f.StartsWith("apps/secret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Corrupted_blob_is_rejected_retried_and_never_visible()
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        // On-demand off: the client's GET below must see what the pass left, not fetch the blob itself.
        h.Configure(["apps/*", "base"], SyncHarness.Idle with { OnDemand = false });
        var layer = h.Layout.Layer(40_000);
        var image = await h.PushImageToParentAsync("apps/app", layer);
        var proxy = h.Proxy!;
        var path = "/blobs/" + layer.Digest;
        var corruptions = 0;
        proxy.Corrupt = p => p.EndsWith(path, StringComparison.Ordinal) && Interlocked.Increment(ref corruptions) <= SyncHarness.FastOptions.BlobAttempts;

        var error = await Assert.ThrowsAsync<SyncIncompleteException>(() => h.RunPassAsync());
        Assert.Contains("apps/app:v1", error.Message, StringComparison.Ordinal);
        Assert.Equal(SyncHarness.FastOptions.BlobAttempts, proxy.RequestsFor(path).Count);
        Assert.False(h.Store.BlobExists(layer.Digest));
        Assert.Equal(0, h.Partials.GetLength(layer.Digest));
        Assert.Null(h.Store.GetManifest("apps/app", "v1"));
        using (var pull = await h.Child.Client.GetAsync($"/v2/apps/app/blobs/{layer.Digest}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, pull.StatusCode);
        }

        // Once the parent serves the right bytes (one more bad copy first, retried within the pass), it arrives.
        proxy.Corrupt = p => p.EndsWith(path, StringComparison.Ordinal) && Interlocked.Increment(ref corruptions) <= SyncHarness.FastOptions.BlobAttempts + 1;
        var result = await h.RunPassAsync();
        Assert.Empty(result.Failures);
        Assert.Equal(image.Digest, h.Store.GetManifest("apps/app", "v1")!.Digest);
        await using var stored = h.Store.OpenBlob(layer.Digest);
        Assert.Equal(layer.Digest, Digest.Compute(await ReadAllAsync(stored)));
    }

    [Fact]
    public async Task Unreachable_parent_is_reported_offline_and_local_pulls_keep_working()
    {
        await using var h = await SyncHarness.StartAsync();
        var image = h.Layout.SimpleImage("v1", layerCount: 1);
        await h.Parent.PushAsync(h.LayoutDir, "v1", "base", "v1");

        // The scheduler itself syncs (continuous), then the parent goes away.
        h.Configure(["base"], new SyncSettings());
        await Poll.UntilAsync(() => h.Store.GetManifest("base", "v1") is not null && h.State.Snapshot().ConnectionState == ConnectionStates.Online, "first sync by the scheduler", TimeSpan.FromSeconds(30));
        Assert.NotNull(h.State.Snapshot().Sync.LastSyncTime);

        await h.Parent.StopAsync();
        h.Scheduler.SyncNow();
        await Poll.UntilAsync(() => h.State.Snapshot().ConnectionState == ConnectionStates.Offline && h.State.Snapshot().Sync.LastError is not null, "Offline", TimeSpan.FromSeconds(30));
        Assert.DoesNotContain(DockerRegistry.Password, h.State.Snapshot().Sync.LastError!, StringComparison.Ordinal);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/base/manifests/v1");
        request.Headers.Accept.ParseAdd(MediaTypes.OciManifest);
        using var response = await h.Child.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(image.Digest.ToString(), response.Headers.GetValues("Docker-Content-Digest").Single());

        // The parent comes back: the next pass reports Online again.
        await h.Parent.StartAsync();
        await Poll.UntilAsync(() => h.State.Snapshot().ConnectionState == ConnectionStates.Online && h.State.Snapshot().Sync.LastError is null, "Online again", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Disk_error_while_storing_a_blob_is_reported_unhealthy_not_offline()
    {
        await using var h = await SyncHarness.StartAsync();
        var layer = h.Layout.Layer(50_000);
        var image = await h.PushImageToParentAsync("base", layer);

        // The folder fetched blobs are written into is broken (a file stands where it should be): every blob write
        // fails on the local disk while the parent answers fine.
        var partial = new DataLayout(h.Child.DataRoot).PartialDirectory;
        Directory.Delete(partial, recursive: true);
        await File.WriteAllTextAsync(partial, "not a folder");
        h.Configure(["base"], new SyncSettings());
        await Poll.UntilAsync(() => h.State.Snapshot().StatusDetails.Any(d => d.Code == LocalStorageException.StatusCode), "DiskError", TimeSpan.FromSeconds(30));
        await Poll.UntilAsync(() => h.State.Snapshot().ConnectionState == ConnectionStates.Unhealthy, "Unhealthy", TimeSpan.FromSeconds(30));

        var snapshot = h.State.Snapshot();
        var detail = Assert.Single(snapshot.StatusDetails, d => d.Code == LocalStorageException.StatusCode);
        Assert.Equal("Error", detail.Type);
        Assert.StartsWith("writing to the data folder failed", detail.Description, StringComparison.Ordinal);
        Assert.Equal(detail.Description, snapshot.Sync.LastError);
        Assert.DoesNotContain(DockerRegistry.Password, detail.Description, StringComparison.Ordinal);
        Assert.False(h.Store.BlobExists(layer.Digest));
        Assert.Null(h.Store.GetManifest("base", "v1"));

        // The disk is repaired: the next pass stores everything, the registry is Online and the detail is gone.
        File.Delete(partial);
        Directory.CreateDirectory(partial);
        h.Scheduler.SyncNow();
        // (an Information detail such as ActivatedLocally may stay: the parent is a plain OCI registry)
        await Poll.UntilAsync(() => h.State.Snapshot() is { ConnectionState: ConnectionStates.Online } s && !s.StatusDetails.Any(d => d.Type == "Error") && s.Sync.LastError is null, "healthy again", TimeSpan.FromSeconds(30));
        Assert.Equal(image.Digest, h.Store.GetManifest("base", "v1")!.Digest);
        Assert.True(h.Store.BlobExists(layer.Digest));
    }

    [Fact]
    public async Task Https_parent_behind_an_edge_proxy_is_trusted_through_the_trust_bundle()
    {
        using var certificate = FakeHttpServer.SelfSignedCertificate();
        await using var h = await SyncHarness.StartAsync(proxyCertificate: certificate);
        Assert.Equal(Uri.UriSchemeHttps, h.Settings.Parent!.Endpoint.Scheme);
        var image = h.Layout.SimpleImage("v1", layerCount: 1);
        await h.Parent.PushAsync(h.LayoutDir, "v1", "base", "v1");

        var result = await h.RunPassAsync();

        Assert.Empty(result.Failures);
        Assert.Equal(image.Digest, h.Store.GetManifest("base", "v1")!.Digest);
        Assert.NotEmpty(h.Proxy!.RequestsFor("/manifests/"));
    }

    [Fact]
    public async Task SyncNow_direct_method_starts_a_pass_outside_the_schedule()
    {
        await using var h = await SyncHarness.StartAsync();
        var image = h.Layout.SimpleImage("v1", layerCount: 1);
        await h.Parent.PushAsync(h.LayoutDir, "v1", "base", "v1");
        var dispatcher = h.Child.App.Services.GetRequiredService<DirectMethodDispatcher>();

        var answer = await dispatcher.DispatchAsync("syncNow", "{}", default);

        Assert.Equal(200, answer.Status);
        Assert.True((bool)answer.Payload["started"]!);
        await Poll.UntilAsync(() => h.Store.GetManifest("base", "v1")?.Digest == image.Digest && h.State.Snapshot().Sync.LastSyncTime is not null, "the pass syncNow started", TimeSpan.FromSeconds(30));
        Assert.Equal(400, (await dispatcher.DispatchAsync("syncNow", "[1]", default)).Status);

        h.Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(RegistrySettings.Default);
        var noParent = await dispatcher.DispatchAsync("syncNow", string.Empty, default);
        Assert.Equal(409, noParent.Status);
        Assert.Equal("NoParent", (string?)noParent.Payload["error"]!["code"]);
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }
}
