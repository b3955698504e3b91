using System.Diagnostics;
using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;
using Xunit.Abstractions;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// A parent that goes silent mid-body, or declares a length its blob does not have: a real docker-registry behind the
/// recording proxy, which stalls or lies on the wire, and this module as the child. The child gives up on a silent
/// body after <c>sync.parentIdleTimeout</c> and goes on with a new request; a declared length is checked before any
/// header goes to a client.
/// </summary>
public sealed class StalledParentTests(ITestOutputHelper output)
{
    private const int MiB = 1024 * 1024;
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task On_demand_pulls_of_a_blob_whose_parent_stalls_mid_body_get_the_whole_blob_soon_after_the_idle_limit()
    {
        var (h, layer) = await ParentWithAsync("apps/big", 4 * MiB, Idle);
        await using var _ = h;
        var stall = StallOnce(h.Proxy!, layer);

        var clock = Stopwatch.StartNew();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        var first = ReadBlobAsync(h.Child.Client, $"/v2/apps/big/blobs/{layer.Digest}", limit.Token);
        await Poll.UntilAsync(() => stall.Count == 1, "the parent to go silent after 1 MiB");

        // Later requests for the digest join the stuck download: they must not be held by it either.
        var later = ReadBlobAsync(h.Child.Client, $"/v2/apps/big/blobs/{layer.Digest}", limit.Token);
        using var head = new HttpRequestMessage(HttpMethod.Head, $"/v2/apps/big/blobs/{layer.Digest}");
        var headed = h.Child.Client.SendAsync(head, limit.Token);

        Assert.Equal(layer.Digest, Digest.Compute(await first));
        output.WriteLine($"first client got the whole blob after {clock.Elapsed.TotalSeconds:0.0} s (idle limit {Idle.TotalSeconds} s)");
        Assert.Equal(layer.Digest, Digest.Compute(await later));
        using (var response = await headed)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");

        // The download went on from what had arrived, not from byte 0.
        var resumed = h.Proxy!.TransfersOf($"/blobs/{layer.Digest}").Where(r => r.Range.StartsWith("bytes=", StringComparison.Ordinal) && !r.Range.StartsWith("bytes=0-", StringComparison.Ordinal) && r.BodyBytes > 1).ToList();
        Assert.NotEmpty(resumed);
        Assert.True(h.Store.IsBlobInRepository("apps/big", layer.Digest));
    }

    [Fact]
    public async Task A_sync_pass_over_a_parent_that_stalls_mid_blob_drops_the_silent_request_and_completes()
    {
        var (h, layer) = await ParentWithAsync("apps/big", 4 * MiB, Idle);
        await using var _ = h;
        var stall = StallOnce(h.Proxy!, layer);

        var clock = Stopwatch.StartNew();
        var result = await h.RunPassAsync();
        output.WriteLine($"pass completed after {clock.Elapsed.TotalSeconds:0.0} s (idle limit {Idle.TotalSeconds} s)");

        Assert.Equal(1, stall.Count);
        Assert.Empty(result.Failures);
        Assert.NotNull(h.Store.GetManifest("apps/big", "v1"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_blob_whose_declared_length_differs_from_its_manifest_is_refused_before_any_header_reaches_the_client()
    {
        var (h, layer) = await ParentWithAsync("apps/liar", 8 * MiB, TimeSpan.FromSeconds(30));
        await using var _ = h;
        Declare(h.Proxy!, layer, 1_000_000_000_000);

        // As a pull does: the manifest (which gives the layer's size), then the layer.
        using (var manifest = await h.Child.Client.GetAsync("/v2/apps/liar/manifests/v1"))
        {
            Assert.Equal(HttpStatusCode.OK, manifest.StatusCode);
        }

        var clock = Stopwatch.StartNew();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var response = await h.Child.Client.GetAsync($"/v2/apps/liar/blobs/{layer.Digest}", HttpCompletionOption.ResponseHeadersRead, limit.Token);
        output.WriteLine($"answered {(int)response.StatusCode} after {clock.Elapsed.TotalSeconds:0.0} s");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("BLOB_UNKNOWN", await response.ErrorCodeAsync());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.False(h.Store.BlobExists(layer.Digest));
    }

    [Fact]
    public async Task A_blob_declared_larger_than_the_volume_can_take_is_refused_before_any_header_reaches_the_client()
    {
        var (h, layer) = await ParentWithAsync("apps/liar", 8 * MiB, TimeSpan.FromSeconds(30));
        await using var _ = h;
        var declared = 1_000_000_000_000_000L; // a petabyte: more than any test machine's volume
        Declare(h.Proxy!, layer, declared);

        // No manifest first: the blob's size is known from nothing but the parent's word.
        var clock = Stopwatch.StartNew();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var response = await h.Child.Client.GetAsync($"/v2/apps/liar/blobs/{layer.Digest}", HttpCompletionOption.ResponseHeadersRead, limit.Token);
        output.WriteLine($"answered {(int)response.StatusCode} (Content-Length {response.Content.Headers.ContentLength}) after {clock.Elapsed.TotalSeconds:0.0} s");

        Assert.NotEqual(declared, response.Content.Headers.ContentLength);
        Assert.Equal(HttpStatusCode.InsufficientStorage, response.StatusCode);
        Assert.Equal("INSUFFICIENT_STORAGE", await response.ErrorCodeAsync());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_sync_pass_refuses_a_blob_whose_declared_length_differs_from_its_descriptor_and_the_next_pass_fetches_it()
    {
        var (h, layer) = await ParentWithAsync("apps/liar", 8 * MiB, TimeSpan.FromSeconds(30));
        await using var _ = h;
        Declare(h.Proxy!, layer, 1_000_000_000_000);

        var clock = Stopwatch.StartNew();
        var failed = await Assert.ThrowsAsync<SyncIncompleteException>(() => h.RunPassAsync());
        output.WriteLine($"pass ended after {clock.Elapsed.TotalSeconds:0.0} s: {failed.Message}");

        Assert.Contains("declared 1000000000000 bytes", failed.Message, StringComparison.Ordinal);
        Assert.Null(h.Store.GetManifest("apps/liar", "v1"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");

        h.Proxy!.DeclareLength = null;
        var again = await h.RunPassAsync();
        Assert.Empty(again.Failures);
        Assert.NotNull(h.Store.GetManifest("apps/liar", "v1"));
    }

    /// <summary>The parent (behind the proxy) with an image of one layer of <paramref name="size"/> bytes; the child with <paramref name="idle"/>.</summary>
    private static async Task<(SyncHarness Harness, TestBlob Layer)> ParentWithAsync(string repository, int size, TimeSpan idle)
    {
        var h = await SyncHarness.StartAsync(proxy: true);
        h.Configure(["apps/*"], SyncHarness.Idle with { ParentIdleTimeout = idle });
        var layer = h.Layout.Layer(size);
        await h.PushImageToParentAsync(repository, layer);
        return (h, layer);
    }

    /// <summary>The parent goes silent after 1 MiB of its first answer for the layer; then it has recovered.</summary>
    private static Stall StallOnce(ForwardingProxy proxy, TestBlob layer)
    {
        var stall = new Stall();
        proxy.StallWhen = (path, sent) => path.Contains($"/blobs/{layer.Digest}", StringComparison.Ordinal) && sent >= MiB && stall.First();
        return stall;
    }

    /// <summary>The parent declares <paramref name="length"/> bytes for every 200 of the layer.</summary>
    private static void Declare(ForwardingProxy proxy, TestBlob layer, long length) =>
        proxy.DeclareLength = path => path.Contains($"/blobs/{layer.Digest}", StringComparison.Ordinal) ? length : null;

    private sealed class Stall
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public bool First() => Interlocked.CompareExchange(ref _count, 1, 0) == 0;
    }

    /// <summary>A GET of the whole body, as a client pulling a layer does.</summary>
    private static async Task<byte[]> ReadBlobAsync(HttpClient client, string path, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken);
    }
}
