using System.Diagnostics;
using System.Net;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Image;

/// <summary>
/// The nested IoT Edge path, literally: the top layer runs as its image (created from
/// <c>deployments/nested/top-layer.json</c>) under a docker-registry "cloud" parent, with the API proxy (nginx, stock
/// configuration, on port 8000) in front of it; it holds the connected-registry image itself and a small image standing
/// for another module. The nested device is a second machine (<see cref="TestHost"/>: its own network namespace) with
/// its own Docker engine: it logs in at the proxy with the manifest's credentials, pulls the connected-registry image
/// through it (<c>$upstream:8000/connected-registry:0.1.0</c>) and runs the lower layer from that image with
/// <c>deployments/nested/lower-layer.json</c>'s <c>createOptions</c>; the lower layer activates at the top through the
/// proxy and syncs. Then a deployment change: a new image pushed at the top is pulled by the nested engine at once.
/// </summary>
[Collection(ModuleImageCollection.Name)]
public sealed class NestedDeviceTests(ModuleImage image)
{
    private const string PusherPassword = "ci-pusher-Passw0rd";

    [Fact]
    public async Task A_nested_device_pulls_the_connected_registry_image_through_the_top_layers_proxy_and_runs_the_lower_layer_from_it()
    {
        var pki = EdgeHarness.EdgeCa;
        var layoutDir = TempDirectory.Create("nested-layout");
        await using var cloud = await DockerRegistry.StartNewAsync();
        await using var proxy = await ApiProxy.StartAsync("127.0.0.1:8080", port: 8000);
        var upstream = proxy.Address.ToString();
        using var trust = image.Docker.TrustCa(proxy.HostPort, proxy.CaPem);
        await using var host = await TestHost.CreateAsync();
        var nestedDocker = DockerDaemon.InNamespace(host.Name);
        await nestedDocker.InitializeAsync();
        try
        {
            var layout = new OciLayoutBuilder(layoutDir);
            var factoryImage = await cloud.PushImageAsync(layout, "factory/app", layout.Layer(128 * 1024, seed: 44));

            // The top layer, as its image, from the top-layer manifest.
            await using var top = await EdgeDevice.StartAsync(image.Docker, "top-device", IPAddress.Loopback, "localhost", pki.CaPem);
            var topDeployment = EdgeDeployment.Load("deployments/nested/top-layer.json", ModuleImage.Reference, new Dictionary<string, string>
            {
                ["REGISTRY_HOST_DATA"] = Path.Combine(top.Folder, "srv", "connected-registry"),
                ["PARENT_REGISTRY_ENDPOINT"] = cloud.Endpoint.ToString().TrimEnd('/'),
                ["PARENT_SYNC_TOKEN_NAME"] = DockerRegistry.User,
                ["PARENT_SYNC_TOKEN_PASSWORD"] = DockerRegistry.Password,
            });
            var topContainer = await top.RunModuleAsync(topDeployment, ModuleImage.Reference, editDesired: desired =>
                // The operator's CI pushes the module images to the top layer with a token of its own.
                desired["clientTokens"]!["ci-pusher"] = new JObject
                {
                    ["passwordHash"] = HierarchyHarness.Hash(PusherPassword),
                    ["scopeMap"] = new JObject { ["*"] = new JArray("content/read", "content/write", "metadata/read", "metadata/write") },
                });
            await top.UntilAsync(() => top.Hub.Reported["activationState"]?.Value<string>() == "Active", "the top layer active", TimeSpan.FromSeconds(60), topContainer);

            // The module images at the top: the connected-registry image itself, and a small one for another module.
            var credentials = topDeployment.RegistryCredentials();
            string[] push = ["--dest-cert-dir", proxy.CertDirectory, "--dest-creds", $"ci-pusher:{PusherPassword}"];
            try
            {
                await Skopeo.RunAsync(["copy", "--quiet", "--src-daemon-host", "unix://" + image.Docker.Socket, .. push,
                    $"docker-daemon:{ModuleImage.Reference}", $"docker://{proxy.HostPort}/connected-registry:0.1.0"]);
            }
            catch (InvalidOperationException ex)
            {
                throw new InvalidOperationException(ex.Message + "\ntop layer's log:\n" + await top.LogsAsync(topContainer), ex);
            }

            var agentStandIn = "local/azureiotedge-agent:1.5";
            await image.Docker.ImportImageAsync(agentStandIn);
            await Skopeo.RunAsync(["copy", "--quiet", "--src-daemon-host", "unix://" + image.Docker.Socket, .. push,
                $"docker-daemon:{agentStandIn}", $"docker://{proxy.HostPort}/azureiotedge-agent:1.5"]);

            // The nested device: edgeAgent logs in at $upstream:8000 with the lower manifest's credentials and pulls
            // the connected-registry image through the proxy.
            // Its edgeHub and workload API (the lower device's own) are served by the test on this machine's side of the pair.
            await using var lower = await EdgeDevice.StartAsync(nestedDocker, "lower-device", host.Gateway, host.Gateway.ToString(), pki.CaPem + proxy.CaPem, parentHostName: upstream);
            var lowerDeployment = EdgeDeployment.Load("deployments/nested/lower-layer.json", ModuleImage.Reference, new Dictionary<string, string>
            {
                ["REGISTRY_HOST_DATA"] = Path.Combine(lower.Folder, "srv", "connected-registry"),
            });
            var (address, user, password) = Assert.Single(lowerDeployment.RegistryCredentials(upstream));
            Assert.Equal(proxy.HostPort, address);
            await nestedDocker.RunAsync("login", "-u", user, "-p", password, address);
            var lowerImage = lowerDeployment.Image(EdgeDevice.ModuleId, upstream);
            Assert.Equal($"{proxy.HostPort}/connected-registry:0.1.0", lowerImage);
            var pull = Stopwatch.StartNew();
            await nestedDocker.RunAsync(TimeSpan.FromMinutes(5), "pull", "-q", lowerImage);
            var pullTime = pull.Elapsed;
            await nestedDocker.RunAsync("pull", "-q", $"{address}/azureiotedge-agent:1.5");
            Assert.Equal(await image.Docker.ImageIdAsync(ModuleImage.Reference), await nestedDocker.ImageIdAsync(lowerImage));
            var requests = proxy.Requests();
            Assert.True(requests.Any(r => r.StartsWith("GET /v2/connected-registry/manifests/", StringComparison.Ordinal) && r.EndsWith(" 200", StringComparison.Ordinal))
                && requests.Any(r => r.StartsWith("GET /v2/connected-registry/blobs/", StringComparison.Ordinal) && r.EndsWith(" 200", StringComparison.Ordinal)),
                "the image's manifest and blobs through the proxy:\n" + string.Join("\n", requests));

            // The lower layer runs from the pulled image.
            {
                var lowerContainer = await lower.RunModuleAsync(lowerDeployment, lowerImage);
                await lower.UntilAsync(() => lower.Hub.Reported["activationState"]?.Value<string>() == "Active", "the lower layer active at the top", TimeSpan.FromSeconds(90), lowerContainer);
                await top.UntilAsync(() => top.Hub.Reported["children"]?["edge-registry-2"]?["activationState"]?.Value<string>() == "Active", "the top reporting its child active", TimeSpan.FromSeconds(60), topContainer);
                Assert.Contains(proxy.Requests(), r => r.StartsWith("POST /acr/connected-registry/v1/activate 2", StringComparison.Ordinal));

                // It syncs: the top's factory image (synced from the cloud) served by the lower layer on the nested device.
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
                await lower.UntilAsync(
                    () => HttpProbe.AnswersAsync(
                        http,
                        () =>
                        {
                            var request = new HttpRequestMessage(HttpMethod.Head, new Uri($"http://{host.Address}:8080/v2/factory/app/manifests/{factoryImage.Digest}"));
                            request.Headers.Authorization = EdgeAgentDeploymentTests.Basic(user, password);
                            return request;
                        },
                        r => r.StatusCode == HttpStatusCode.OK),
                    "the lower layer serving the factory image it synced from the top",
                    TimeSpan.FromSeconds(120),
                    lowerContainer);

                // A deployment change: a new image of a module pushed at the top reaches the nested engine's pull at once.
                var agentNext = "local/azureiotedge-agent:1.5.1";
                await image.Docker.ImportImageAsync(agentNext);
                await Skopeo.RunAsync(["copy", "--quiet", "--src-daemon-host", "unix://" + image.Docker.Socket, .. push,
                    $"docker-daemon:{agentNext}", $"docker://{proxy.HostPort}/azureiotedge-agent:1.5.1"]);
                var change = Stopwatch.StartNew();
                await nestedDocker.RunAsync("pull", "-q", $"{address}/azureiotedge-agent:1.5.1");
                var changeTime = change.Elapsed;
                Assert.Equal(await image.Docker.ImageIdAsync(agentNext), await nestedDocker.ImageIdAsync($"{address}/azureiotedge-agent:1.5.1"));
                Assert.True(changeTime < TimeSpan.FromSeconds(10), $"the nested pull of the new tag took {changeTime.TotalSeconds:F1} s");
                Console.WriteLine($"nested device: connected-registry image ({image.Size / 1e6:F0} MB) pulled through the proxy in {pullTime.TotalSeconds:F1} s; a new tag pushed at the top pulled in {changeTime.TotalSeconds:F2} s");
            }
        }
        finally
        {
            await nestedDocker.DisposeAsync();
            TempDirectory.Delete(layoutDir);
        }
    }
}
