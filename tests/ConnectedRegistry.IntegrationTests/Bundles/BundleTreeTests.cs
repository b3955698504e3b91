using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.IntegrationTests.Bundles;

/// <summary>What a bundle brings flows on down the tree at once, and a ReadOnly registry stays ReadOnly to its clients.</summary>
public sealed class BundleTreeTests
{
    private const string ChildPassword = "site-child-Passw0rd";

    [Fact]
    public async Task A_readonly_child_gets_the_imported_tags_through_the_change_feed_within_seconds()
    {
        await using var h = await BundleHarness.StartAsync(RegistryMode.ReadOnly);
        var trusted = h.Settings.Bundles;
        h.Apply(h.Settings with
        {
            Children = new Dictionary<string, ChildRegistrySettings>
            {
                ["site-child"] = new() { Mode = RegistryMode.ReadOnly, SyncTokenPasswordHash = HierarchyHarness.Hash(ChildPassword), Repositories = ["apps/web"] },
            },
            Bundles = trusted,
            ClientTokens = new Dictionary<string, ClientTokenSettings>
            {
                ["admin"] = new()
                {
                    PasswordHash = HierarchyHarness.Hash(HierarchyHarness.AdminPassword),
                    ScopeMap = new Dictionary<string, IReadOnlyList<string>> { ["*"] = RegistryActions.All },
                },
            },
        });

        // The child's scheduler idles for ten minutes after its first pass: what reaches it later came through the change feed.
        var child = await HierarchyHarness.StartAsync(syncPassword: ChildPassword,
            scheduler: new SyncSchedulerOptions { IdleDelay = TimeSpan.FromMinutes(10), RetryDelay = TimeSpan.FromMilliseconds(300) });
        try
        {
            child.Apply(HierarchyHarness.ChildSettings("site-child", h.Site.BaseAddress, ["apps/web"]));
            await Poll.UntilAsync(() => child.State().ActivationState == ActivationStates.Active && child.State().Sync.LastSyncTime is not null,
                "the child activates at the site and finishes its first pass", TimeSpan.FromSeconds(30));

            var image = h.Layout.SimpleImage("web", layerCount: 2, layerSize: 50_000);
            await h.Parent.PushAsync(h.Layout.Directory, "web", "apps/web", "v1");
            var bundle = await h.ExportAsync("full.tar", repositories: "apps/*");
            var stopwatch = System.Diagnostics.Stopwatch.StartNew();
            var imported = await h.ImportAsync(bundle);
            Assert.True(imported.Type == "Information", imported.Description);

            await Poll.UntilAsync(() => child.Store().GetManifest("apps/web", "v1") is not null, "the imported tag reaches the child", TimeSpan.FromSeconds(30));
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(15), $"took {stopwatch.Elapsed}");
            Assert.Equal(image.Digest, child.Store().GetManifest("apps/web", "v1")!.Digest);

            // The ReadOnly site took the bundle, but its clients still cannot write, not even with a token that may do anything.
            using var pushRequest = new HttpRequestMessage(HttpMethod.Post, "/v2/apps/web/blobs/uploads/");
            pushRequest.Headers.Authorization = HierarchyHarness.Basic("admin", HierarchyHarness.AdminPassword);
            using var push = await h.Site.Client.SendAsync(pushRequest);
            Assert.Equal(HttpStatusCode.MethodNotAllowed, push.StatusCode);
            Assert.Equal("UNSUPPORTED", await push.ErrorCodeAsync());
            using var deleteRequest = new HttpRequestMessage(HttpMethod.Delete, $"/v2/apps/web/manifests/{image.Digest}");
            deleteRequest.Headers.Authorization = HierarchyHarness.Basic("admin", HierarchyHarness.AdminPassword);
            using var delete = await h.Site.Client.SendAsync(deleteRequest);
            Assert.Equal(HttpStatusCode.MethodNotAllowed, delete.StatusCode);
            Assert.Equal(image.Digest, h.Store.GetManifest("apps/web", "v1")!.Digest);
        }
        finally
        {
            await child.DisposeAsync();
            child.DeleteData();
        }
    }
}
