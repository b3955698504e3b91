using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>Sync up: client pushes to a ReadWrite child go through the outbox to a real docker-registry parent.</summary>
public sealed class SyncUpTests
{
    private static Task PushToChildAsync(SyncHarness h, string layoutTag, string repository, string tag) =>
        Skopeo.RunAsync(["copy", "--all", "--quiet", "--dest-tls-verify=false", $"oci:{h.LayoutDir}:{layoutTag}", $"docker://{h.Child.HostPort}/{repository}:{tag}"]);

    [Fact]
    public async Task A_push_with_the_link_open_reaches_the_parent_within_seconds_not_at_the_next_scheduled_pass()
    {
        // The scheduler's real pauses (30 s between passes of a continuous schedule): only the push itself can start the pass.
        await using var h = await SyncHarness.StartAsync(schedulerOptions: new SyncSchedulerOptions());
        h.Configure(["apps/*"], new SyncSettings());
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (h.State.Snapshot().ConnectionState != ConnectionStates.Online && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal(ConnectionStates.Online, h.State.Snapshot().ConnectionState);
        await Task.Delay(500); // well inside the 30 s pause after the first pass
        var image = h.Layout.SimpleImage("fast", layerCount: 2);
        await PushToChildAsync(h, "fast", "apps/fast", "v1");
        var pushed = System.Diagnostics.Stopwatch.StartNew();

        using var parent = h.ParentClient();
        ManifestInfo? atParent = null;
        // 12 s: far short of the 30 s pause, room for a busy machine (a pass takes well under 1 s on a quiet one)
        while (pushed.Elapsed < TimeSpan.FromSeconds(12) && atParent is null)
        {
            atParent = await parent.HeadManifestAsync("apps/fast", "v1", default);
            if (atParent is null)
            {
                await Task.Delay(100);
            }
        }

        Assert.True(atParent is not null, $"the push was not at the parent {pushed.Elapsed.TotalSeconds:0.0} s after it");
        Assert.Equal(image.Digest, atParent.Digest);
    }

    [Fact]
    public async Task Local_pushes_reach_the_parent_in_order_and_win_over_a_concurrent_parent_change()
    {
        await using var h = await SyncHarness.StartAsync();
        var atParent = h.Layout.SimpleImage("a", layerCount: 1);
        await h.Parent.PushAsync(h.LayoutDir, "a", "apps/x", "v1");
        await h.RunPassAsync();
        Assert.Equal(atParent.Digest, h.Store.GetManifest("apps/x", "v1")!.Digest);

        // Both sides change apps/x:v1 before the next pass; the child also gets a new multi-platform image.
        var local = h.Layout.SimpleImage("b", layerCount: 2);
        var amd = h.Layout.Image("amd64", h.Layout.Layer(5000));
        var arm = h.Layout.Image("arm64", h.Layout.Layer(5000));
        var index = h.Layout.Index(amd, arm);
        h.Layout.Tag(index, "multi");
        var parentSide = h.Layout.SimpleImage("c", layerCount: 1);
        await PushToChildAsync(h, "b", "apps/x", "v1");
        await PushToChildAsync(h, "multi", "apps/x", "multi");
        await h.Parent.PushAsync(h.LayoutDir, "c", "apps/x", "v1");
        var outbox = h.Child.App.Services.GetRequiredService<SyncOutbox>();
        Assert.True(outbox.Count() >= 2);
        Assert.Equal(outbox.Count(), h.State.Snapshot().Sync.PendingPushes);

        await h.RunPassAsync();

        using var parent = h.ParentClient();
        Assert.Equal(local.Digest, (await parent.HeadManifestAsync("apps/x", "v1", default))!.Digest);
        Assert.Equal(local.Digest, h.Store.GetManifest("apps/x", "v1")!.Digest);
        Assert.Equal(index.Digest, (await parent.HeadManifestAsync("apps/x", "multi", default))!.Digest);
        Assert.NotNull(await parent.GetManifestAsync("apps/x", amd.Digest.ToString(), default));
        Assert.NotNull(await parent.GetManifestAsync("apps/x", arm.Digest.ToString(), default));
        Assert.Equal(0, outbox.Count());
        Assert.Equal(0, h.State.Snapshot().Sync.PendingPushes);
        Assert.True(h.Sync.LastUpResult!.Delivered >= 2);
        Assert.NotEqual(parentSide.Digest, local.Digest);

        // Nothing pending: the next pass pushes nothing and pulls nothing.
        await h.RunPassAsync();
        Assert.Equal(0, h.Sync.LastUpResult!.Delivered);
        Assert.Equal(0, h.Sync.LastResult!.BytesDownloaded);
    }

    [Fact]
    public async Task A_refused_push_of_a_tag_with_a_newer_push_queued_is_dropped_so_the_newest_push_wins()
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        var older = h.Layout.SimpleImage("older", layerCount: 1);
        var newer = h.Layout.SimpleImage("newer", layerCount: 1);
        await PushToChildAsync(h, "older", "apps/x", "v1");
        await PushToChildAsync(h, "newer", "apps/x", "v1");

        // The parent fails the first push of apps/x:v1 (every retry of it); it accepts what comes after.
        var attempts = 0;
        var retries = SyncHarness.FastOptions.Client.MaxRetries;
        h.Proxy!.RespondWith = path => path == "/v2/apps/x/manifests/v1" && Interlocked.Increment(ref attempts) <= retries + 1 ? 500 : null;

        await h.RunPassAsync();

        // The older push is superseded, never delivered late: the parent and the child both end with the newer push,
        // in one pass, instead of the newer push waiting behind the refused one until its message TTL.
        using var parent = h.ParentClient();
        Assert.Equal(newer.Digest, (await parent.HeadManifestAsync("apps/x", "v1", default))!.Digest);
        Assert.Equal(newer.Digest, h.Store.GetManifest("apps/x", "v1")!.Digest);
        Assert.Equal(1, h.Sync.LastUpResult!.Superseded);
        Assert.Equal(0, h.Sync.LastUpResult.Failed);
        Assert.Equal(0, h.Child.App.Services.GetRequiredService<SyncOutbox>().Count());

        // And nothing brings the older image back: another pass leaves the newer push in place on both sides.
        await h.RunPassAsync();
        Assert.Equal(newer.Digest, (await parent.HeadManifestAsync("apps/x", "v1", default))!.Digest);
        Assert.Equal(newer.Digest, h.Store.GetManifest("apps/x", "v1")!.Digest);
    }

    [Fact]
    public async Task A_failed_push_of_a_tag_without_a_newer_change_stays_queued_and_is_delivered_later()
    {
        await using var h = await SyncHarness.StartAsync(proxy: true);
        var image = h.Layout.SimpleImage("only", layerCount: 1);
        await PushToChildAsync(h, "only", "apps/y", "v1");

        var attempts = 0;
        var retries = SyncHarness.FastOptions.Client.MaxRetries;
        h.Proxy!.RespondWith = path => path == "/v2/apps/y/manifests/v1" && Interlocked.Increment(ref attempts) <= retries + 1 ? 500 : null;
        await Assert.ThrowsAsync<SyncIncompleteException>(() => h.RunPassAsync());
        Assert.Equal(1, h.Child.App.Services.GetRequiredService<SyncOutbox>().Count());
        Assert.Equal(0, h.Sync.LastUpResult!.Superseded);

        await h.RunPassAsync();

        using var parent = h.ParentClient();
        Assert.Equal(image.Digest, (await parent.HeadManifestAsync("apps/y", "v1", default))!.Digest);
        Assert.Equal(0, h.Child.App.Services.GetRequiredService<SyncOutbox>().Count());
    }

    [Fact]
    public async Task A_local_change_whose_blob_cannot_be_read_fails_alone_and_sync_down_still_runs()
    {
        await using var h = await SyncHarness.StartAsync();
        var layer = h.Layout.Layer(3000);
        var local = h.Layout.Image("amd64", layer);
        h.Layout.Tag(local, "local");
        await PushToChildAsync(h, "local", "apps/lost", "v1");
        var fromParent = h.Layout.SimpleImage("parent", layerCount: 1);
        await h.Parent.PushAsync(h.LayoutDir, "parent", "base", "v1");

        // The pushed layer's file is gone from the data folder (a damaged volume, an operator's mistake).
        File.Delete(Path.Combine(h.Child.DataRoot, "blobs", layer.Digest.Algorithm, layer.Digest.Hex[..2], layer.Digest.Hex));
        h.Configure(["base"]);

        // A local read error is that change's failure, not "the parent is unreachable": sync down still runs.
        var error = await Assert.ThrowsAsync<SyncIncompleteException>(() => h.RunPassAsync());
        Assert.Contains("could not be pushed", error.Message, StringComparison.Ordinal);
        Assert.Equal(fromParent.Digest, h.Store.GetManifest("base", "v1")!.Digest);
        Assert.Equal(1, h.Sync.LastUpResult!.Failed);
        Assert.Equal(1, h.Child.App.Services.GetRequiredService<SyncOutbox>().Count());
    }

    [Fact]
    public async Task A_signature_pushed_locally_reaches_a_parent_without_referrers_api_through_the_tag_schema()
    {
        await using var h = await SyncHarness.StartAsync();
        var image = h.Layout.SimpleImage("signed", layerCount: 1);
        await PushToChildAsync(h, "signed", "apps/signed", "v1");

        // A client signs the image at the child: blobs and a manifest whose subject is the image.
        using (var child = ParentClients.Client(h.Child.BaseAddress, null))
        {
            var payload = System.Text.Encoding.UTF8.GetBytes("local signature");
            var payloadDigest = ConnectedRegistry.Oci.Digest.Compute(payload);
            await child.UploadBlobAsync("apps/signed", payloadDigest, new MemoryStream(payload), payload.Length, default);
            await child.UploadBlobAsync("apps/signed", ConnectedRegistry.Oci.Digest.Compute("{}"u8), new MemoryStream("{}"u8.ToArray()), 2, default);
            var artifact = TestContent.ArtifactManifest(image, payloadDigest, payload.Length);
            await child.PutManifestAsync("apps/signed", ConnectedRegistry.Oci.Digest.Compute(artifact).ToString(), artifact, ConnectedRegistry.Oci.MediaTypes.OciManifest, default);
        }

        await h.RunPassAsync();

        using var parent = h.ParentClient();
        var referrers = await parent.ReferrersAsync("apps/signed", image.Digest, default);
        var referrer = Assert.Single(referrers!);
        Assert.Equal("application/vnd.example.signature", referrer.ArtifactType);
        Assert.NotNull(await parent.GetManifestAsync("apps/signed", referrer.Digest.ToString(), default));

        // The schema tag comes back down as an ordinary tag; nothing is duplicated and the pass is clean.
        await h.RunPassAsync();
        Assert.Single((await parent.ReferrersAsync("apps/signed", image.Digest, default))!);
    }

    [Fact]
    public async Task Changes_outliving_the_message_ttl_are_dropped_and_reported()
    {
        await using var h = await SyncHarness.StartAsync();
        h.Configure(["apps/*"], SyncHarness.Idle with { MessageTtl = TimeSpan.FromSeconds(1) });
        h.Layout.SimpleImage("late", layerCount: 1);
        await h.Parent.StopAsync();
        await PushToChildAsync(h, "late", "apps/late", "v1");
        var outbox = h.Child.App.Services.GetRequiredService<SyncOutbox>();
        Assert.Equal(1, outbox.Count());

        await Task.Delay(1200);
        await Assert.ThrowsAnyAsync<Exception>(() => h.RunPassAsync()); // parent still down, the item expires anyway
        Assert.Equal(0, outbox.Count());
        Assert.Equal(0, h.State.Snapshot().Sync.PendingPushes);
        var detail = Assert.Single(h.State.Snapshot().StatusDetails, d => d.Code == "SyncPushExpired");
        Assert.Contains("1 local change", detail.Description, StringComparison.Ordinal);

        await h.Parent.StartAsync();
        await Task.Delay(600); // the open circuit half-opens
        await h.RunPassAsync();
        using var parent = h.ParentClient();
        Assert.Null(await parent.HeadManifestAsync("apps/late", "v1", default));
        Assert.NotNull(h.Store.GetManifest("apps/late", "v1")); // still here locally
    }

    [Fact]
    public async Task Only_a_ReadWrite_registry_with_a_parent_records_changes()
    {
        await using var h = await SyncHarness.StartAsync();
        var outbox = h.Child.App.Services.GetRequiredService<SyncOutbox>();
        var digest = ConnectedRegistry.Oci.Digest.Compute("m"u8);

        h.Configure(["apps/*"], mode: RegistryMode.ReadOnly);
        outbox.ManifestPushed("apps/ro", digest, ConnectedRegistry.Oci.MediaTypes.OciManifest, "v1");
        Assert.Equal(0, outbox.Count());

        h.Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(RegistrySettings.Default); // no parent
        outbox.TagDeleted("apps/ro", "v1");
        Assert.Equal(0, outbox.Count());

        h.Configure(["apps/*"]);
        outbox.ManifestPushed("apps/rw", digest, ConnectedRegistry.Oci.MediaTypes.OciManifest, "v1");
        outbox.TagDeleted("apps/rw", "old");
        Assert.Equal(2, outbox.Count());
        Assert.True(outbox.HasPendingTag("apps/rw", "v1"));
        Assert.Equal([OutboxKind.PushManifest, OutboxKind.DeleteTag], outbox.Pending().Select(i => i.Kind));
        Assert.Equal(2, h.State.Snapshot().Sync.PendingPushes);
    }
}
