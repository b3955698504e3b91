using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using ConnectedRegistry.Hierarchy;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static ConnectedRegistry.IntegrationTests.Infrastructure.HierarchyHarness;

namespace ConnectedRegistry.IntegrationTests.Hierarchy;

/// <summary>
/// The nested layout end to end (<see cref="NestedLayout"/>): cloud stand-in → top layer → the stock IoT Edge API proxy
/// → lower layer, with the Docker engine pushing at the top through the proxy.
/// </summary>
[Collection(DockerEngineCollection.Name)]
public sealed class NestedLayoutTests(DockerDaemon docker)
{
    [Fact]
    public async Task The_lower_layer_activates_syncs_and_follows_the_feed_through_the_stock_api_proxy_and_a_docker_push_at_the_top_reaches_it_and_the_cloud()
    {
        TestBlob? fromCloud = null;
        await using var nested = await NestedLayout.StartAsync(async layout =>
        {
            fromCloud = layout.Layout.SimpleImage("base", layerCount: 2);
            await layout.Cloud.PushAsync(layout.LayoutDirectory, "base", "factory/base", "1.0");
            await Poll.UntilAsync(() => layout.Top.Store().GetManifest("factory/base", "1.0") is not null, "the top layer syncs the cloud's image");
        });

        // Activation and the first pass went through the proxy: Active at the parent, not locally.
        await Poll.UntilAsync(() => nested.Lower.Store().GetManifest("factory/base", "1.0") is not null, "the lower layer syncs through the proxy");
        Assert.Equal(fromCloud!.Digest, nested.Lower.Store().GetManifest("factory/base", "1.0")!.Digest);
        var state = nested.Lower.State();
        Assert.Equal(ActivationStates.Active, state.ActivationState);
        Assert.Equal(LocalActivation.ViaParent, nested.Lower.Activation().Current.Via);
        Assert.DoesNotContain(state.StatusDetails, d => d.Code is LocalActivation.DetailActivatedLocally or LocalActivation.DetailParentApiBlocked);
        Assert.Equal(ActivationStates.Active, nested.Top.State().Children[NestedLayout.LowerName].ActivationState);
        var requests = nested.Proxy.Requests();
        Assert.Contains(requests, r => r.StartsWith("POST /acr/connected-registry/v1/activate 200", StringComparison.Ordinal));
        Assert.Contains(requests, r => r.StartsWith("GET /acr/oauth2/token 200", StringComparison.Ordinal));
        Assert.DoesNotContain(requests, r => r.EndsWith(" 403", StringComparison.Ordinal));
        await Task.Delay(1000); // the lower layer's long poll is waiting at the top, through the proxy, now

        // A docker push at the top, through the proxy, reaches the lower layer within seconds (the feed, not the
        // ten-minute schedule) and the cloud (sync up).
        using var trust = docker.TrustCa(nested.Proxy.HostPort, nested.Proxy.CaPem);
        var remote = $"{nested.Proxy.HostPort}/factory/pushed:v1";
        var id = await docker.ImportImageAsync(remote);
        await docker.RunAsync("login", "-u", "admin", "-p", AdminPassword, nested.Proxy.HostPort);
        var stopwatch = Stopwatch.StartNew();
        await docker.RunAsync("push", remote);
        var pushed = nested.Top.Store().GetManifest("factory/pushed", "v1");
        Assert.NotNull(pushed);
        await Poll.UntilAsync(() => nested.Lower.Store().GetManifest("factory/pushed", "v1") is not null, "the push reaches the lower layer", TimeSpan.FromSeconds(30));
        var propagation = stopwatch.Elapsed;
        Assert.True(propagation < TimeSpan.FromSeconds(15), $"took {propagation}");
        Assert.Equal(pushed.Digest, nested.Lower.Store().GetManifest("factory/pushed", "v1")!.Digest);
        // The long poll came back through the proxy with the change (nginx logs a request once it completes).
        Assert.Contains(nested.Proxy.Requests(), r => r.StartsWith("GET /acr/connected-registry/v1/changes 200", StringComparison.Ordinal));
        await Poll.UntilAsync(() => CloudHas(nested.Cloud, "factory/pushed", "v1"), "the push reaches the cloud stand-in", TimeSpan.FromSeconds(30));

        // The lower layer serves it to the Docker engine as the top did.
        await docker.RunAsync("logout", nested.Proxy.HostPort);
        await docker.RunAsync("image", "rm", "-f", id);
        var lower = $"{nested.Lower.HostPort}/factory/pushed:v1";
        await docker.RunAsync("login", "-u", "admin", "-p", AdminPassword, nested.Lower.HostPort);
        await docker.RunAsync("pull", lower);
        Assert.Equal(id, await docker.ImageIdAsync(lower));
        await docker.RunAsync("logout", nested.Lower.HostPort);
        await docker.RunAsync("image", "rm", "-f", id);

        // A docker pull of an image only the cloud holds (the top's ten-minute schedule has not run since) succeeds by
        // on-demand fetch: the lower layer's miss goes through the proxy to the top, whose miss goes to the cloud.
        nested.Top.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(NestedLayout.TopSettings(nested.Cloud.Endpoint) with
        {
            Sync = new SyncSettings { Repositories = NestedLayout.Subset, Schedule = "0 0 30 2 *", Window = TimeSpan.FromHours(1) }, // no more passes
        });
        await Task.Delay(2000); // a pass still running ends
        var cloudOnly = $"{nested.Cloud.HostPort}/factory/cloud-only:v1";
        var cloudId = await docker.ImportImageAsync(cloudOnly, size: 256 * 1024);
        await docker.RunAsync("login", "-u", DockerRegistry.User, "-p", DockerRegistry.Password, nested.Cloud.HostPort);
        await docker.RunAsync("push", cloudOnly);
        await docker.RunAsync("logout", nested.Cloud.HostPort);
        await docker.RunAsync("image", "rm", "-f", cloudId);
        Assert.Null(nested.Top.Store().GetManifest("factory/cloud-only", "v1"));
        Assert.Null(nested.Lower.Store().GetManifest("factory/cloud-only", "v1"));
        var onDemand = $"{nested.Lower.HostPort}/factory/cloud-only:v1";
        await docker.RunAsync("login", "-u", "admin", "-p", AdminPassword, nested.Lower.HostPort);
        await docker.RunAsync("pull", onDemand);
        Assert.Equal(cloudId, await docker.ImageIdAsync(onDemand));
        await docker.RunAsync("logout", nested.Lower.HostPort);
        await docker.RunAsync("image", "rm", "-f", cloudId);
        Assert.Contains(nested.Proxy.Requests(), r => r.StartsWith("GET /v2/factory/cloud-only/manifests/v1 200", StringComparison.Ordinal));
        await Poll.UntilAsync(() => nested.Top.Store().GetManifest("factory/cloud-only", "v1") is not null && nested.Lower.Store().GetManifest("factory/cloud-only", "v1") is not null, "both layers keep what was fetched on demand");
        Assert.True(nested.Lower.State().Sync.OnDemandFetches > 0);
    }

    [Fact]
    public async Task Behind_a_proxy_that_forwards_only_v2_the_lower_layer_activates_locally_with_a_warning_naming_the_403()
    {
        // A proxy configuration from before /acr was forwarded: the hierarchy API and the token realm get nginx's 403.
        var onlyV2 = ApiProxy.StockServer.Replace("location /acr {", "location /not-forwarded {", StringComparison.Ordinal);
        await using var nested = await NestedLayout.StartAsync(proxyServer: onlyV2);
        await Poll.UntilAsync(() => nested.Lower.State().StatusDetails.Any(d => d.Code == LocalActivation.DetailParentApiBlocked), "the lower layer says what is in the way");
        var detail = nested.Lower.State().StatusDetails.Single(d => d.Code == LocalActivation.DetailParentApiBlocked);
        Assert.Equal("Warning", detail.Type);
        Assert.Contains("403", detail.Description, StringComparison.Ordinal);
        Assert.Contains("HTML", detail.Description, StringComparison.Ordinal);
        Assert.Contains("/acr/connected-registry/v1/activate", detail.Description, StringComparison.Ordinal);
        Assert.Equal(ActivationStates.Active, nested.Lower.State().ActivationState);
        Assert.Equal(LocalActivation.ViaLocal, nested.Lower.Activation().Current.Via);
        Assert.DoesNotContain(nested.Lower.State().StatusDetails, d => d.Code == LocalActivation.DetailActivatedLocally);
        Assert.Contains(nested.Proxy.Requests(), r => r.StartsWith("POST /acr/connected-registry/v1/activate 403", StringComparison.Ordinal));
    }

    private static bool CloudHas(DockerRegistry cloud, string repository, string tag)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Head, new Uri(cloud.Endpoint, $"v2/{repository}/manifests/{tag}"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{DockerRegistry.User}:{DockerRegistry.Password}")));
        request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        using var response = http.Send(request);
        return response.StatusCode == HttpStatusCode.OK;
    }
}
