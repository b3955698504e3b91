using System.Diagnostics;
using System.Net;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// On-demand pull-through: a real docker-registry parent behind the recording proxy, this module as the child with a
/// schedule that never opens, so whatever the child serves that the parent alone had came by on-demand fetch.
/// </summary>
public sealed class OnDemandTests
{
    [Theory]
    [InlineData(RegistryMode.ReadWrite)]
    [InlineData(RegistryMode.ReadOnly)]
    public async Task An_image_only_the_parent_has_is_pulled_by_skopeo_and_kept_as_synced_content(RegistryMode mode)
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        h.Configure(["apps/*"], mode: mode);
        var image = await h.PushImageToParentAsync("apps/web", h.Layout.Layer(300_000), h.Layout.Layer(5000));

        var pulled = TempDirectory.Create("pulled");
        try
        {
            await Skopeo.RunAsync(["copy", "--quiet", "--src-tls-verify=false", $"docker://{h.Child.HostPort}/apps/web:v1", $"oci:{pulled}:v1"]);
        }
        finally
        {
            TempDirectory.Delete(pulled);
        }

        // The tag is set once its content is whole, recorded as set by sync, and never queued for sync up.
        await Poll.UntilAsync(() => h.Store.GetManifest("apps/web", "v1") is not null, "apps/web:v1 kept locally");
        Assert.Equal(image.Digest, h.Store.GetManifest("apps/web", "v1")!.Digest);
        Assert.Equal(image.Digest, h.Child.App.Services.GetRequiredService<SyncStateStore>().SyncedTags("apps/web")["v1"]);
        Assert.Equal(0, h.Child.App.Services.GetRequiredService<SyncOutbox>().Count());
        // The count moves once a fetch is recorded, which may come just after the tag it completed.
        await Poll.UntilAsync(() => h.State.Snapshot().Sync.OnDemandFetches >= 4, "four on-demand fetches counted (the manifest, the config, two layers: each blob once, whether skopeo or the background store fetched it)");
        Assert.NotNull(h.State.Snapshot().Sync.LastOnDemandFetch);
        Assert.Equal(ConnectionStates.Offline, h.State.Snapshot().ConnectionState); // no pass ran: the window never opened

        // Served from here now, the parent not asked again.
        var before = h.Proxy!.Requests.Count;
        using var again = await h.Child.Client.GetAsync($"/v2/apps/web/manifests/v1");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(before, h.Proxy.Requests.Count);
    }

    [Fact]
    public async Task Blobs_the_background_store_fetched_before_the_client_asked_count_once_each()
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        h.Configure(["apps/*"]);
        TestBlob[] layers = [h.Layout.Layer(200_000), h.Layout.Layer(3000)];
        await h.PushImageToParentAsync("apps/count", layers);

        // Only the manifest is asked for: its blobs come with the background store, before any client asks for them
        // (on a loaded machine this is also what happens between skopeo's manifest GET and its blob GETs).
        using var manifest = await h.Child.Client.GetAsync("/v2/apps/count/manifests/v1");
        Assert.Equal(HttpStatusCode.OK, manifest.StatusCode);
        await Poll.UntilAsync(() => h.Store.GetManifest("apps/count", "v1") is not null, "apps/count:v1 stored with its content");
        await Poll.UntilAsync(() => h.State.Snapshot().Sync.OnDemandFetches >= 4, "the manifest and its three blobs counted");

        // Asked now, the blobs are served from here: nothing crosses the link and the count stays.
        foreach (var layer in layers)
        {
            using var blob = await h.Child.Client.GetAsync($"/v2/apps/count/blobs/{layer.Digest}");
            Assert.Equal(HttpStatusCode.OK, blob.StatusCode);
        }

        Assert.Equal(4, h.State.Snapshot().Sync.OnDemandFetches);
    }

    [Fact]
    public async Task A_HEAD_that_fetches_a_blob_answers_200_only_once_it_is_stored_so_a_pushed_manifest_can_name_it()
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        h.Configure(["apps/*"]);
        var layer = h.Layout.Layer(2 * 1024 * 1024);
        await h.PushImageToParentAsync("apps/base", layer);
        h.Proxy!.Throttle = TimeSpan.FromMilliseconds(2); // a fetch that takes a while, as on a thin link

        // What docker push and skopeo do for each layer: HEAD, and skip the upload on a 200.
        using var head = new HttpRequestMessage(HttpMethod.Head, $"/v2/apps/base/blobs/{layer.Digest}");
        using var response = await h.Child.Client.SendAsync(head);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(layer.Size, response.Content.Headers.ContentLength);
        Assert.True(h.Store.IsBlobInRepository("apps/base", layer.Digest), "the blob a HEAD said 200 for is here when the 200 arrives");
    }

    [Fact]
    public async Task Concurrent_pulls_of_one_blob_get_the_whole_blob_from_one_read_at_the_parent()
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        h.Configure(["apps/*"]);
        var layer = h.Layout.Layer(6 * 1024 * 1024);
        await h.PushImageToParentAsync("apps/big", layer);
        h.Proxy!.Throttle = TimeSpan.FromMilliseconds(2); // keep the transfer running while the others join

        var first = h.Child.Client.GetAsync($"/v2/apps/big/blobs/{layer.Digest}", HttpCompletionOption.ResponseHeadersRead);
        await Task.Delay(300);
        var all = Enumerable.Range(0, 4).Select(_ => h.Child.Client.GetByteArrayAsync($"/v2/apps/big/blobs/{layer.Digest}")).ToList();
        using (var response = await first)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(layer.Digest, Digest.Compute(await response.Content.ReadAsByteArrayAsync()));
        }

        foreach (var body in await Task.WhenAll(all))
        {
            Assert.Equal(layer.Size, body.LongLength);
            Assert.Equal(layer.Digest, Digest.Compute(body));
        }

        Assert.Single(h.Proxy.TransfersOf($"/blobs/{layer.Digest}"));
        await Poll.UntilAsync(() => h.Store.IsBlobInRepository("apps/big", layer.Digest), "the fetched layer kept locally");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_sync_pass_and_an_on_demand_pull_of_one_blob_share_one_download_and_store_it_once(bool passFirst)
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        h.Configure(["apps/*"]);
        var layer = h.Layout.Layer(6 * 1024 * 1024);
        await h.PushImageToParentAsync("apps/big", layer);
        h.Proxy!.Throttle = TimeSpan.FromMilliseconds(2); // keep the download running while the other side joins
        var downloads = h.Child.App.Services.GetRequiredService<BlobDownloads>();

        Task<SyncDownResult>? pass = null;
        Task<HttpResponseMessage>? pull = null;
        if (passFirst)
        {
            pass = h.RunPassAsync();
        }
        else
        {
            pull = h.Child.Client.GetAsync($"/v2/apps/big/blobs/{layer.Digest}", HttpCompletionOption.ResponseHeadersRead);
        }

        await Poll.UntilAsync(() => h.Partials.GetLength(layer.Digest) > 0, "the first side's download of the layer to be under way");
        pass ??= h.RunPassAsync();
        pull ??= h.Child.Client.GetAsync($"/v2/apps/big/blobs/{layer.Digest}", HttpCompletionOption.ResponseHeadersRead);

        using (var response = await pull)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(layer.Digest, Digest.Compute(await response.Content.ReadAsByteArrayAsync()));
        }

        var result = await pass;
        Assert.Empty(result.Failures);
        Assert.Single(h.Proxy.DownloadsOf($"/blobs/{layer.Digest}")); // one download, whoever started it
        Assert.True(h.Store.IsBlobInRepository("apps/big", layer.Digest));
        Assert.Equal(layer.Size, new FileInfo(h.Store.BlobFilePath(layer.Digest)).Length);
        Assert.Equal(layer.Digest, Digest.Compute(await File.ReadAllBytesAsync(h.Store.BlobFilePath(layer.Digest))));

        Assert.Equal(0, h.Partials.GetLength(layer.Digest)); // nothing left half-written
        await Poll.UntilAsync(() => downloads.Running == 0, "the shared download to be forgotten once it ended");
    }

    /// <summary>How the blob came to be here, or on its way, for <c>secret/big</c> when the other client asks.</summary>
    public enum SecretBlob
    {
        DownloadedForAClient,
        DownloadedByASyncPass,
        Stored,
    }

    [Theory]
    [InlineData(SecretBlob.DownloadedForAClient, "GET")]
    [InlineData(SecretBlob.DownloadedForAClient, "HEAD")]
    [InlineData(SecretBlob.DownloadedByASyncPass, "GET")]
    [InlineData(SecretBlob.DownloadedByASyncPass, "HEAD")]
    [InlineData(SecretBlob.Stored, "GET")]
    [InlineData(SecretBlob.Stored, "HEAD")]
    public async Task A_blob_another_repository_holds_is_not_served_from_a_repository_the_parent_does_not_hold_it_in(SecretBlob state, string method)
    {
        await using var h = await ScopedClientsAsync();
        var secret = h.Layout.Layer(6 * 1024 * 1024);
        await h.PushImageToParentAsync("secret/big", secret);
        await h.PushImageToParentAsync("factory/app", h.Layout.Layer(3000)); // factory/app exists at the parent, without that blob
        Assert.Equal(HttpStatusCode.NotFound, await ParentBlobStatusAsync(h, "factory/app", secret.Digest)); // the parent itself says so

        h.Proxy!.Throttle = TimeSpan.FromMilliseconds(10); // about 6 MB/s: the download runs for a second
        Task<SyncDownResult>? pass = null;
        Task<HttpResponseMessage>? first = null;
        if (state == SecretBlob.DownloadedByASyncPass)
        {
            pass = h.RunPassAsync();
        }
        else
        {
            first = h.Child.Client.SendAsync(As(SecretReader, HttpMethod.Get, $"/v2/secret/big/blobs/{secret.Digest}"), HttpCompletionOption.ResponseHeadersRead);
        }

        if (state == SecretBlob.Stored)
        {
            await Poll.UntilAsync(() => h.Store.IsBlobInRepository("secret/big", secret.Digest), "the secret layer stored for secret/big");
        }
        else
        {
            await Poll.UntilAsync(() => h.Partials.GetLength(secret.Digest) > 0, "the secret layer's download under way");
        }

        using (var other = await h.Child.Client.SendAsync(As(FactoryReader, new HttpMethod(method), $"/v2/factory/app/blobs/{secret.Digest}")))
        {
            Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
            if (method == "GET")
            {
                Assert.Equal("BLOB_UNKNOWN", await other.ErrorCodeAsync());
            }
        }

        Assert.NotEmpty(h.Proxy.RequestsFor($"/factory/app/blobs/{secret.Digest}")); // the parent was asked for factory/app
        if (first is not null)
        {
            using var response = await first;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(secret.Digest, Digest.Compute(await response.Content.ReadAsByteArrayAsync()));
        }

        if (pass is not null)
        {
            Assert.Empty((await pass).Failures);
        }

        await Poll.UntilAsync(() => h.Store.IsBlobInRepository("secret/big", secret.Digest), "the secret layer stored for secret/big");
        await Poll.UntilAsync(() => h.Child.App.Services.GetRequiredService<BlobDownloads>().Running == 0, "every download ended");
        Assert.False(h.Store.IsBlobInRepository("factory/app", secret.Digest), "the secret layer was linked into factory/app");
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("HEAD")]
    public async Task A_blob_both_repositories_hold_at_the_parent_is_served_from_the_running_download_with_one_transfer(string method)
    {
        await using var h = await ScopedClientsAsync();
        var shared = h.Layout.Layer(6 * 1024 * 1024);
        await h.PushImageToParentAsync("secret/big", shared);
        await h.PushImageToParentAsync("factory/app", shared);
        h.Proxy!.Throttle = TimeSpan.FromMilliseconds(10);

        var first = h.Child.Client.SendAsync(As(SecretReader, HttpMethod.Get, $"/v2/secret/big/blobs/{shared.Digest}"), HttpCompletionOption.ResponseHeadersRead);
        await Poll.UntilAsync(() => h.Partials.GetLength(shared.Digest) > 0, "the layer's download for secret/big under way");
        using (var other = await h.Child.Client.SendAsync(As(FactoryReader, new HttpMethod(method), $"/v2/factory/app/blobs/{shared.Digest}")))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
            Assert.Equal(shared.Size, other.Content.Headers.ContentLength);
            if (method == "GET")
            {
                Assert.Equal(shared.Digest, Digest.Compute(await other.Content.ReadAsByteArrayAsync()));
            }
        }

        using (var response = await first)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(shared.Digest, Digest.Compute(await response.Content.ReadAsByteArrayAsync()));
        }

        await Poll.UntilAsync(() => h.Store.IsBlobInRepository("secret/big", shared.Digest) && h.Store.IsBlobInRepository("factory/app", shared.Digest), "the layer linked to both repositories");

        // The parent's answer for factory/app is a question, not a second transfer: the blob crossed the link once.
        var fromParent = h.Proxy.BytesFor($"/blobs/{shared.Digest}");
        Assert.True(fromParent < shared.Size + (64 * 1024), $"{fromParent} bytes of a {shared.Size}-byte blob came from the parent");
        Assert.Single(h.Proxy.DownloadsOf($"/blobs/{shared.Digest}"));
    }

    private const string SecretReader = "secret-reader";
    private const string FactoryReader = "factory-reader";

    /// <summary>
    /// The harness's child syncing <c>secret/*</c> and <c>factory/*</c> on demand, for two clients: one that may read
    /// <c>secret/*</c> and one that may read only <c>factory/app</c> (each signed in once, so the KDF is behind them).
    /// </summary>
    private static async Task<SyncHarness> ScopedClientsAsync()
    {
        var h = await SyncHarness.StartAsync(proxy: true);
        h.Configure(["secret/*", "factory/*"], clientTokens: new Dictionary<string, ClientTokenSettings>
        {
            [SecretReader] = new() { PasswordHash = PasswordHasher.Hash(SecretReader + "-pw", PasswordHasher.MinIterations), ScopeMap = new Dictionary<string, IReadOnlyList<string>> { ["secret/*"] = [RegistryActions.ContentRead] } },
            [FactoryReader] = new() { PasswordHash = PasswordHasher.Hash(FactoryReader + "-pw", PasswordHasher.MinIterations), ScopeMap = new Dictionary<string, IReadOnlyList<string>> { ["factory/app"] = [RegistryActions.ContentRead] } },
        });
        foreach (var user in new[] { SecretReader, FactoryReader })
        {
            using var signIn = await h.Child.Client.SendAsync(As(user, HttpMethod.Get, "/v2/"));
            Assert.Equal(HttpStatusCode.OK, signIn.StatusCode);
        }

        return h;
    }

    private static HttpRequestMessage As(string user, HttpMethod method, string path) =>
        new(method, path) { Headers = { Authorization = HierarchyHarness.Basic(user, user + "-pw") } };

    /// <summary>What the parent itself answers a GET of the blob in <paramref name="repository"/> (directly, with the sync token).</summary>
    private static async Task<HttpStatusCode> ParentBlobStatusAsync(SyncHarness h, string repository, Digest digest)
    {
        using var client = new HttpClient { BaseAddress = h.Parent.Endpoint };
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/{repository}/blobs/{digest}") { Headers = { Authorization = HierarchyHarness.Basic(DockerRegistry.User, DockerRegistry.Password) } };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        return response.StatusCode;
    }

    [Fact]
    public async Task Outside_the_sync_set_or_with_on_demand_off_the_client_gets_the_normal_404_and_the_parent_is_not_asked()
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        var image = await h.PushImageToParentAsync("other/x", h.Layout.Layer(4000));
        h.Configure(["apps/*"]);

        using (var manifest = await h.Child.Client.GetAsync("/v2/other/x/manifests/v1"))
        {
            Assert.Equal(HttpStatusCode.NotFound, manifest.StatusCode);
        }

        Assert.DoesNotContain(h.Proxy!.Requests, r => r.Path.Contains("other/x", StringComparison.Ordinal));

        h.Configure(["other/x"], SyncHarness.Idle with { OnDemand = false });
        using (var off = await h.Child.Client.GetAsync("/v2/other/x/manifests/v1"))
        {
            Assert.Equal(HttpStatusCode.NotFound, off.StatusCode);
        }

        Assert.DoesNotContain(h.Proxy.Requests, r => r.Path.Contains("other/x", StringComparison.Ordinal));

        // Turned on again, the same request is fetched; a tag the parent lacks is MANIFEST_UNKNOWN.
        h.Configure(["other/x"]);
        using (var on = await h.Child.Client.GetAsync("/v2/other/x/manifests/v1"))
        {
            Assert.Equal(HttpStatusCode.OK, on.StatusCode);
            Assert.Equal(image.Digest, Digest.Compute(await on.Content.ReadAsByteArrayAsync()));
        }

        await Poll.UntilAsync(() => h.Store.GetManifest("other/x", "v1") is not null, "other/x:v1 kept locally");
        using var missing = await h.Child.Client.GetAsync("/v2/other/x/manifests/v9");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("MANIFEST_UNKNOWN", await missing.ErrorCodeAsync());
    }

    [Fact]
    public async Task With_the_parent_unreachable_the_client_gets_a_404_within_a_few_seconds_and_local_content_is_served()
    {
        await using var h = await SyncHarness.StartAsync();
        var image = await h.PushImageToParentAsync("apps/web", h.Layout.Layer(4000));
        h.Configure(["apps/*"]);
        using (var fetched = await h.Child.Client.GetAsync("/v2/apps/web/manifests/v1"))
        {
            Assert.Equal(HttpStatusCode.OK, fetched.StatusCode);
        }

        await Poll.UntilAsync(() => h.Store.GetManifest("apps/web", "v1") is not null, "apps/web:v1 kept locally");
        await h.Parent.StopAsync();

        var clock = Stopwatch.StartNew();
        using var manifest = await h.Child.Client.GetAsync("/v2/apps/web/manifests/v2");
        using var blob = await h.Child.Client.GetAsync($"/v2/apps/web/blobs/sha256:{new string('a', 64)}");
        Assert.Equal(HttpStatusCode.NotFound, manifest.StatusCode);
        Assert.Equal("MANIFEST_UNKNOWN", await manifest.ErrorCodeAsync());
        Assert.Equal(HttpStatusCode.NotFound, blob.StatusCode);
        Assert.Equal("BLOB_UNKNOWN", await blob.ErrorCodeAsync());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(12), $"took {clock.Elapsed}");

        using var local = await h.Child.Client.GetAsync("/v2/apps/web/manifests/v1");
        Assert.Equal(HttpStatusCode.OK, local.StatusCode);
        Assert.Equal(image.Digest, Digest.Compute(await local.Content.ReadAsByteArrayAsync()));
    }

    [Fact]
    public async Task A_blob_that_does_not_match_its_digest_aborts_the_client_and_nothing_is_stored()
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        h.Configure(["apps/*"]);
        var layer = h.Layout.Layer(200_000);
        await h.PushImageToParentAsync("apps/bad", layer);
        h.Proxy!.Corrupt = path => path.Contains("/blobs/", StringComparison.Ordinal);

        var failed = false;
        try
        {
            using var response = await h.Child.Client.GetAsync($"/v2/apps/bad/blobs/{layer.Digest}");
            failed = response.StatusCode == HttpStatusCode.NotFound;
        }
        catch (HttpRequestException)
        {
            failed = true; // the response was aborted mid-way
        }

        Assert.True(failed, "a corrupted blob reached the client as a complete response");
        Assert.False(h.Store.BlobExists(layer.Digest));
        Assert.False(h.Store.IsBlobInRepository("apps/bad", layer.Digest));

        // The next request fetches it again, whole.
        h.Proxy.Corrupt = null;
        var body = await h.Child.Client.GetByteArrayAsync($"/v2/apps/bad/blobs/{layer.Digest}");
        Assert.Equal(layer.Digest, Digest.Compute(body));
    }

    [Fact]
    public async Task A_miss_at_the_bottom_of_a_chain_becomes_the_middles_miss_and_is_fetched_from_the_top()
    {
        await using var h = await SyncHarness.StartAsync();
        var image = await h.PushImageToParentAsync("apps/web", h.Layout.Layer(700_000), h.Layout.Layer(3000));
        var bottom = await StartBottomOfChainAsync(h);
        try
        {
            var pulled = TempDirectory.Create("pulled");
            try
            {
                await Skopeo.RunAsync(["copy", "--quiet", "--src-tls-verify=false", $"docker://{bottom.HostPort}/apps/web:v1", $"oci:{pulled}:v1"]);
            }
            finally
            {
                TempDirectory.Delete(pulled);
            }

            var bottomStore = bottom.App.Services.GetRequiredService<ConnectedRegistry.Storage.RegistryStore>();
            await Poll.UntilAsync(() => bottomStore.GetManifest("apps/web", "v1") is not null && h.Store.GetManifest("apps/web", "v1") is not null, "apps/web:v1 kept at both levels");
            Assert.Equal(image.Digest, bottomStore.GetManifest("apps/web", "v1")!.Digest);
            Assert.Equal(image.Digest, h.Store.GetManifest("apps/web", "v1")!.Digest);
        }
        finally
        {
            await bottom.DisposeAsync();
            bottom.DeleteData();
        }
    }

    [Fact]
    public async Task Through_a_chain_the_first_bytes_reach_the_client_while_the_middle_still_fetches_the_blob()
    {
        // The bottom asks the middle with a GET, not a HEAD: a HEAD at a registry that fetches on demand answers once the
        // whole blob is stored there, which would cost one whole transfer per level before the client's first byte.
        await using var h = await SyncHarness.StartAsync(proxy: true);
        var layer = h.Layout.Layer(4 * 1024 * 1024);
        await h.PushImageToParentAsync("apps/web", layer);
        var bottom = await StartBottomOfChainAsync(h);
        try
        {
            h.Proxy!.Throttle = TimeSpan.FromMilliseconds(5); // the top's link: the transfer takes seconds
            using var response = await bottom.Client.GetAsync($"/v2/apps/web/blobs/{layer.Digest}", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(layer.Size, response.Content.Headers.ContentLength);
            await using var body = await response.Content.ReadAsStreamAsync();
            var first = new byte[64 * 1024];
            await body.ReadExactlyAsync(first);

            var readFromTop = h.Proxy.BytesFor($"/blobs/{layer.Digest}");
            Assert.False(h.Store.IsBlobInRepository("apps/web", layer.Digest), "the middle had stored the whole blob before the client's first bytes");
            Assert.True(readFromTop < layer.Size, $"the middle had read {readFromTop} of {layer.Size} bytes from the top before the client's first bytes");

            h.Proxy.Throttle = TimeSpan.Zero;
            using var rest = new MemoryStream();
            rest.Write(first);
            await body.CopyToAsync(rest);
            Assert.Equal(layer.Digest, Digest.Compute(rest.ToArray()));
            var bottomStore = bottom.App.Services.GetRequiredService<ConnectedRegistry.Storage.RegistryStore>();
            await Poll.UntilAsync(() => h.Store.IsBlobInRepository("apps/web", layer.Digest) && bottomStore.IsBlobInRepository("apps/web", layer.Digest), "the blob kept at both levels");
            Assert.Single(h.Proxy.TransfersOf($"/blobs/{layer.Digest}"));
        }
        finally
        {
            await bottom.DisposeAsync();
            bottom.DeleteData();
        }
    }

    [Fact]
    public async Task Through_a_chain_a_blob_another_repository_is_fetching_reaches_the_client_while_the_middle_still_fetches_it()
    {
        // The bottom asks the middle whether apps/other holds the blob its download for apps/web is fetching: with a GET
        // of the last byte, which the middle answers as soon as the top said yes. A HEAD would wait for the middle to
        // store the whole blob (it must: a pushing client takes a 200 as "it is here").
        await using var h = await SyncHarness.StartAsync(proxy: true);
        var layer = h.Layout.Layer(4 * 1024 * 1024);
        await h.PushImageToParentAsync("apps/web", layer);
        await h.PushImageToParentAsync("apps/other", layer);
        var bottom = await StartBottomOfChainAsync(h, "apps/web", "apps/other");
        try
        {
            h.Proxy!.Throttle = TimeSpan.FromMilliseconds(10); // the top's link: the transfer takes seconds
            using var web = await bottom.Client.GetAsync($"/v2/apps/web/blobs/{layer.Digest}", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, web.StatusCode);
            using var other = await bottom.Client.GetAsync($"/v2/apps/other/blobs/{layer.Digest}", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
            await using var body = await other.Content.ReadAsStreamAsync();
            var first = new byte[64 * 1024];
            await body.ReadExactlyAsync(first);
            Assert.False(h.Store.BlobExists(layer.Digest), "the middle had stored the whole blob before the second client's first bytes");

            h.Proxy.Throttle = TimeSpan.Zero;
            using var rest = new MemoryStream();
            rest.Write(first);
            await body.CopyToAsync(rest);
            Assert.Equal(layer.Digest, Digest.Compute(rest.ToArray()));
            Assert.Equal(layer.Digest, Digest.Compute(await web.Content.ReadAsByteArrayAsync()));
            var bottomStore = bottom.App.Services.GetRequiredService<ConnectedRegistry.Storage.RegistryStore>();
            await Poll.UntilAsync(() => bottomStore.IsBlobInRepository("apps/web", layer.Digest) && bottomStore.IsBlobInRepository("apps/other", layer.Digest), "the blob linked to both repositories at the bottom");
            Assert.Single(h.Proxy.DownloadsOf($"/blobs/{layer.Digest}"));
        }
        finally
        {
            await bottom.DisposeAsync();
            bottom.DeleteData();
        }
    }

    /// <summary>
    /// Makes the harness's child the middle of a chain (it syncs <c>base</c> for itself and
    /// <paramref name="repositories"/> (<c>apps/web</c> when none) for its child) and starts the bottom registry below
    /// it, syncing them with a schedule that never opens.
    /// </summary>
    private static async Task<RegistryInstance> StartBottomOfChainAsync(SyncHarness h, params string[] repositories)
    {
        repositories = repositories.Length == 0 ? ["apps/web"] : repositories;
        const string BottomPassword = "bottom-sync-Passw0rd";
        var middleSettings = h.Settings with
        {
            Name = "edge-middle",
            Sync = SyncHarness.Idle with { Repositories = ["base"] },
            Children = new Dictionary<string, ChildRegistrySettings>
            {
                ["edge-bottom"] = new() { SyncTokenPasswordHash = PasswordHasher.Hash(BottomPassword, PasswordHasher.MinIterations), Repositories = repositories },
            },
        };
        h.Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(middleSettings);

        var bottom = await RegistryInstance.StartAsync(configure: builder =>
        {
            builder.Services.AddSingleton(SyncHarness.FastOptions);
            builder.Services.AddSingleton(new SyncEnvironment(name => name == ParentCredentials.PasswordVariable ? BottomPassword : null));
        });
        bottom.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(new RegistrySettings
        {
            Name = "edge-bottom",
            Mode = RegistryMode.ReadOnly,
            Parent = new ParentSettings { Endpoint = h.Child.BaseAddress },
            Sync = SyncHarness.Idle with { Repositories = repositories },
        });
        return bottom;
    }
}
