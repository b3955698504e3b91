using ConnectedRegistry.Core;
using ConnectedRegistry.Hierarchy;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Sync;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;
using static ConnectedRegistry.IntegrationTests.Infrastructure.HierarchyHarness;

namespace ConnectedRegistry.IntegrationTests.Hierarchy;

/// <summary>Instances of this module as parent and children, their schedulers running: activation as an operator sees it.</summary>
public sealed class ActivationTests
{
    private const string Child = "edge-cell-3";
    private const string ChildPassword = "cell-3-sync-Passw0rd";

    private static RegistrySettings Parent(RegistryMode childMode = RegistryMode.ReadOnly, RegistryMode mode = RegistryMode.ReadWrite) =>
        ParentSettings("edge-line-1", new Dictionary<string, ChildRegistrySettings>
        {
            [Child] = new() { Mode = childMode, SyncTokenPasswordHash = Hash(ChildPassword), Repositories = ["apps/*"] },
        }, mode);

    [Fact]
    public async Task Two_instances_of_one_identity_the_second_is_refused_until_deactivate_and_again_until_deactivateChild_and_restarts_keep_the_state()
    {
        var parent = await StartAsync();
        var first = await StartAsync(syncPassword: ChildPassword, edge: Edge("device-1"));
        RegistryInstance? second = null;
        var layout = TempDirectory.Create("layout");
        try
        {
            parent.Apply(Parent());
            var builder = new OciLayoutBuilder(layout);
            var image = builder.SimpleImage("img", layerCount: 1);
            await PushAsync(parent, layout, "img", "apps/web", "v1");
            var settings = ChildSettings(Child, parent.BaseAddress, ["apps/*"]);

            first.Apply(settings);
            await Poll.UntilAsync(() => first.Store().GetManifest("apps/web", "v1") is not null, "the first instance syncs");
            Assert.Equal(ActivationStates.Active, first.State().ActivationState);
            Assert.Equal(LocalActivation.ViaParent, first.Activation().Current.Via);
            var reportedChild = parent.State().Children[Child];
            Assert.Equal(ActivationStates.Active, reportedChild.ActivationState);
            Assert.NotNull(reportedChild.LastSeen);

            // A second instance (another device, its own data) with the same identity: refused, Unhealthy, no sync.
            second = await StartAsync(syncPassword: ChildPassword, edge: Edge("device-2"));
            second.Apply(settings);
            await Poll.UntilAsync(() => second.State().ConnectionState == ConnectionStates.Unhealthy, "the second instance reports Unhealthy");
            var refused = second.State();
            Assert.Equal(ActivationStates.Inactive, refused.ActivationState);
            var detail = Assert.Single(refused.StatusDetails, d => d.Code == LocalActivation.DetailAlreadyActivated);
            Assert.Equal("Error", detail.Type);
            Assert.Contains("already active", detail.Description);
            Assert.Contains("deactivateChild", detail.Description);
            Assert.DoesNotContain("device-1", detail.Description); // the parent does not tell who holds the identity
            Assert.Empty(second.Store().ListRepositories());

            // deactivate on the first: it stops and releases the identity; the second takes over on its own retry.
            var answer = await first.InvokeAsync("deactivate");
            Assert.True((bool)answer["releasedAtParent"]!);
            Assert.Equal(ActivationStates.Inactive, first.State().ActivationState);
            Assert.True(first.State().HasDetail(LocalActivation.DetailDeactivated, "Warning"));
            await Poll.UntilAsync(() => first.State().ConnectionState == ConnectionStates.Offline, "the deactivated instance reports Offline");
            await Poll.UntilAsync(() => second.State().ActivationState == ActivationStates.Active && second.Store().GetManifest("apps/web", "v1") is not null, "the second instance activates and syncs");
            Assert.DoesNotContain(second.State().StatusDetails, d => d.Code == LocalActivation.DetailAlreadyActivated);
            Assert.Equal(image.Digest, second.Store().GetManifest("apps/web", "v1")!.Digest);

            // The deactivated first instance stays so across a restart, and does not sync.
            var firstData = first.DataRoot;
            await first.DisposeAsync();
            first = await StartAsync(firstData, syncPassword: ChildPassword, edge: Edge("device-1"));
            first.Apply(settings);
            await PushAsync(parent, layout, "img", "apps/web", "v2");
            await Poll.UntilAsync(() => second.Store().GetManifest("apps/web", "v2") is not null, "the active instance syncs v2");
            Assert.Equal(ActivationStates.Inactive, first.State().ActivationState);
            Assert.True(first.Activation().IsDeactivated);
            Assert.Null(first.Store().GetManifest("apps/web", "v2"));

            // activate lifts the deactivation, but the identity is held by the second now: refused.
            await first.InvokeAsync("activate");
            await Poll.UntilAsync(() => first.State().HasDetail(LocalActivation.DetailAlreadyActivated, "Error"), "the first instance is refused");
            // The refusal is saved with its detail first; the pass it ended then reports the connection (a moment later under load).
            await Poll.UntilAsync(() => first.State().ConnectionState == ConnectionStates.Unhealthy, "the refused instance reports Unhealthy");

            // The second device is gone for good: the operator frees the identity at the parent; the first comes back.
            await second.DisposeAsync();
            second.DeleteData();
            second = null;
            var freed = await parent.InvokeAsync("deactivateChild", new JObject { ["name"] = Child });
            Assert.True((bool)freed["wasActive"]!);
            Assert.Equal("device-2", (string?)freed["previousDeviceId"]);
            await Poll.UntilAsync(() => first.State().ActivationState == ActivationStates.Active && first.Store().GetManifest("apps/web", "v2") is not null, "the first instance activates again and syncs");
            Assert.NotEqual(ConnectionStates.Unhealthy, first.State().ConnectionState);
            Assert.Equal(ActivationStates.Active, parent.State().Children[Child].ActivationState);

            // A restart of the active instance keeps its identity: it is Active from the start and the parent takes it back.
            firstData = first.DataRoot;
            var instanceId = first.Activation().Identity.InstanceId;
            await first.DisposeAsync();
            first = await StartAsync(firstData, syncPassword: ChildPassword, edge: Edge("device-1"));
            Assert.Equal(instanceId, first.Activation().Identity.InstanceId);
            Assert.Equal(ActivationStates.Active, first.Activation().Current.State);
            first.Apply(settings);
            Assert.Equal(ActivationStates.Active, first.State().ActivationState);
            await PushAsync(parent, layout, "img", "apps/web", "v3");
            await Poll.UntilAsync(() => first.Store().GetManifest("apps/web", "v3") is not null, "the restarted instance keeps syncing");
            Assert.Equal(ActivationStates.Active, first.State().ActivationState);
        }
        finally
        {
            TempDirectory.Delete(layout);
            foreach (var instance in new[] { first, second, parent })
            {
                if (instance is not null)
                {
                    await instance.DisposeAsync();
                    instance.DeleteData();
                }
            }
        }
    }

    [Fact]
    public async Task A_child_with_a_wrong_sync_token_or_a_ReadWrite_child_under_a_ReadOnly_parent_gets_nothing()
    {
        const string ReadWriteChild = "edge-cell-4";
        await using var parent = await StartAsync();
        var wrong = await StartAsync(syncPassword: "not-the-Passw0rd");
        var wrongStopped = false;
        await using var readWrite = await StartAsync(syncPassword: ChildPassword);
        var layout = TempDirectory.Create("layout");
        try
        {
            var parentSettings = Parent();
            parentSettings = parentSettings with
            {
                Children = new Dictionary<string, ChildRegistrySettings>(parentSettings.Children)
                {
                    [ReadWriteChild] = new() { Mode = RegistryMode.ReadOnly, SyncTokenPasswordHash = Hash(ChildPassword), Repositories = ["apps/*"] },
                },
            };
            parent.Apply(parentSettings);
            new OciLayoutBuilder(layout).SimpleImage("img", layerCount: 1);
            await PushAsync(parent, layout, "img", "apps/web", "v1");

            wrong.Apply(ChildSettings(Child, parent.BaseAddress, ["apps/*"]));
            await Poll.UntilAsync(() => wrong.State().Sync.LastError is not null, "the wrong token fails");
            Assert.Contains("401", wrong.State().Sync.LastError);
            // A parent that refuses the sync token is a fault to fix, not a link that is down (issue 20): Unhealthy, with the detail naming it.
            await Poll.UntilAsync(() => wrong.State().ConnectionState == ConnectionStates.Unhealthy, "the refused token reported Unhealthy");
            Assert.Contains(wrong.State().StatusDetails, d => d.Code == ConnectedRegistry.Sync.SyncScheduler.CredentialsRefusedCode);
            Assert.NotEqual(ActivationStates.Active, wrong.State().ActivationState);
            Assert.Empty(wrong.Store().ListRepositories());
            Assert.Equal(ActivationStates.Inactive, parent.State().Children[Child].ActivationState);
            await wrong.DisposeAsync(); // stop its retries (failed logins are rate-limited per address and name)
            wrongStopped = true;

            // The parent is ReadOnly (it refuses ReadWrite children); the child claims ReadWrite.
            parent.Apply(parentSettings with { Mode = RegistryMode.ReadOnly });
            readWrite.Apply(ChildSettings(ReadWriteChild, parent.BaseAddress, ["apps/*"], RegistryMode.ReadWrite));
            await Poll.UntilAsync(() => readWrite.State().ConnectionState == ConnectionStates.Unhealthy, "the ReadWrite child is refused");
            Assert.Equal(ActivationStates.Inactive, readWrite.State().ActivationState);
            var detail = Assert.Single(readWrite.State().StatusDetails, d => d.Code == LocalActivation.DetailActivationDenied);
            Assert.Contains("ReadOnly", detail.Description);
            Assert.Empty(readWrite.Store().ListRepositories());
            Assert.Equal(ActivationStates.Inactive, parent.State().Children[ReadWriteChild].ActivationState);
        }
        finally
        {
            TempDirectory.Delete(layout);
            if (!wrongStopped)
            {
                await wrong.DisposeAsync();
            }

            parent.DeleteData();
            wrong.DeleteData();
            readWrite.DeleteData();
        }
    }

    [Fact]
    public async Task Under_a_plain_OCI_parent_the_registry_activates_locally_and_says_so()
    {
        await using var top = await DockerRegistry.StartNewAsync();
        await using var child = await StartAsync(syncPassword: DockerRegistry.Password);
        try
        {
            child.Apply(ChildSettings("edge-middle", top.Endpoint, ["apps/web"], RegistryMode.ReadWrite) with
            {
                Parent = new ParentSettings { Endpoint = top.Endpoint, SyncTokenName = DockerRegistry.User },
            });
            await Poll.UntilAsync(() => child.State().ActivationState == ActivationStates.Active && child.State().ConnectionState == ConnectionStates.Online, "the child activates locally");
            var detail = Assert.Single(child.State().StatusDetails, d => d.Code == LocalActivation.DetailActivatedLocally);
            Assert.Equal("Information", detail.Type);
            Assert.Contains("plain OCI registry", detail.Description);
            Assert.Equal(LocalActivation.ViaLocal, child.Activation().Current.Via);
            Assert.Equal(0, child.App.Services.GetRequiredService<ChangeFeedFollower>().ChangesSeen);
        }
        finally
        {
            child.DeleteData();
        }
    }

    /// <param name="olderParent">The parent predates the /acr paths (404 there): the child activates and follows the feed at the earlier ones.</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_change_feed_wakes_a_childs_sync_within_seconds(bool olderParent)
    {
        var older = new OlderParent();
        await using var parent = await StartAsync(configure: olderParent ? builder => builder.Services.AddSingleton<IStartupFilter>(older) : null);
        // The child's idle time between passes is ten minutes: only the change feed can bring content sooner.
        await using var child = await StartAsync(syncPassword: ChildPassword, scheduler: new SyncSchedulerOptions { IdleDelay = TimeSpan.FromMinutes(10), RetryDelay = TimeSpan.FromMinutes(10) });
        var layout = TempDirectory.Create("layout");
        try
        {
            parent.Apply(Parent());
            var builder = new OciLayoutBuilder(layout);
            builder.SimpleImage("img", layerCount: 1);
            var fresh = builder.SimpleImage("fresh", layerCount: 2);
            await PushAsync(parent, layout, "img", "apps/web", "v1");
            child.Apply(ChildSettings(Child, parent.BaseAddress, ["apps/*"]));
            await Poll.UntilAsync(() => child.Store().GetManifest("apps/web", "v1") is not null && child.State().Sync.LastSyncTime is not null, "the first pass");
            Assert.Equal(LocalActivation.ViaParent, child.Activation().Current.Via);
            Assert.DoesNotContain(child.State().StatusDetails, d => d.Code is LocalActivation.DetailActivatedLocally or LocalActivation.DetailParentApiBlocked);
            Assert.Equal(olderParent, older.Refused > 0);
            await Task.Delay(500); // the follower is waiting on the parent now

            var stopwatch = System.Diagnostics.Stopwatch.StartNew();
            await PushAsync(parent, layout, "fresh", "apps/new", "v1");
            await Poll.UntilAsync(() => child.Store().GetManifest("apps/new", "v1") is not null, "the change reaches the child", TimeSpan.FromSeconds(15));
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"took {stopwatch.Elapsed}");
            Assert.Equal(fresh.Digest, child.Store().GetManifest("apps/new", "v1")!.Digest);
            Assert.True(child.App.Services.GetRequiredService<ChangeFeedFollower>().ChangesSeen >= 1);

            // A tag deleted at the parent follows as fast.
            using var delete = new HttpRequestMessage(HttpMethod.Delete, $"/v2/apps/new/manifests/{fresh.Digest}");
            delete.Headers.Authorization = Basic("admin", AdminPassword);
            using var deleted = await parent.Client.SendAsync(delete);
            Assert.True(deleted.IsSuccessStatusCode, $"{(int)deleted.StatusCode}");
            await Poll.UntilAsync(() => child.Store().ListTags("apps/new").Count == 0, "the removal reaches the child", TimeSpan.FromSeconds(15));
        }
        finally
        {
            TempDirectory.Delete(layout);
            parent.DeleteData();
            child.DeleteData();
        }
    }

    private static EdgeInstance Edge(string device) => new(device, "registry", null);

    /// <summary>A parent of this kind from before the hierarchy API moved under <c>/acr</c>: 404 there, in the envelope it answered then.</summary>
    private sealed class OlderParent : IStartupFilter
    {
        private int _refused;

        public int Refused => Volatile.Read(ref _refused);

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, following) =>
            {
                if (context.Request.Path.StartsWithSegments(HierarchyEndpoints.Prefix))
                {
                    Interlocked.Increment(ref _refused);
                    context.Response.StatusCode = 404;
                    context.Response.ContentType = "application/json";
                    await context.Response.WriteAsync("{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"no such API resource\"}]}");
                    return;
                }

                await following(context);
            });
            next(app);
        };
    }
}
