using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Image;

/// <summary>
/// The module as IoT Edge runs it: its image, created by the Docker Engine API the way edgeAgent creates it from
/// <c>deployment.template.json</c> (substituted from <c>.env.example</c>; <c>createOptions</c> verbatim, networking
/// switched to the host network), with the runtime's <c>IOTEDGE_*</c> environment, the workload API on the bind-mounted
/// Unix socket and edgeHub (MQTT over TLS on 8883) served by the test (<see cref="EdgeDevice"/>), on a fresh device
/// whose data folder the engine creates itself (root's). A docker-registry is the parent.
/// </summary>
[Collection(ModuleImageCollection.Name)]
public sealed class EdgeAgentDeploymentTests(ModuleImage image)
{
    private const string Module = EdgeDevice.ModuleId;

    [Fact]
    public async Task EdgeAgent_runs_the_image_from_the_manifest_it_connects_syncs_serves_https_turns_healthy_stops_cleanly_and_keeps_its_data()
    {
        var pki = EdgeHarness.EdgeCa;
        await using var parent = await DockerRegistry.StartNewAsync();
        var layoutDir = TempDirectory.Create("edge-agent-layout");
        try
        {
            var layout = new OciLayoutBuilder(layoutDir);
            var pushed = await parent.PushImageAsync(layout, "factory/app", layout.Layer(256 * 1024, seed: 18));
            await using var device = await EdgeDevice.StartAsync(image.Docker, "edge-device-1", IPAddress.Loopback, "localhost", pki.CaPem);
            var engine = device.Engine;

            // A fresh device: the deployment's bind folder does not exist yet, so the engine creates it, owned by root.
            var hostData = Path.Combine(device.Folder, "srv", "connected-registry");
            var deployment = EdgeDeployment.Load("deployment.template.json", ModuleImage.Reference, new Dictionary<string, string>
            {
                ["REGISTRY_HOST_DATA"] = hostData,
                ["PARENT_REGISTRY_ENDPOINT"] = parent.Endpoint.ToString().TrimEnd('/'),
                ["PARENT_SYNC_TOKEN_NAME"] = DockerRegistry.User,
                ["PARENT_SYNC_TOKEN_PASSWORD"] = DockerRegistry.Password,
            });
            Assert.Equal(hostData, deployment.DataBind(Module));
            Assert.False(Directory.Exists(hostData));
            var started = Stopwatch.StartNew();
            var container = await device.RunModuleAsync(deployment, ModuleImage.Reference, desiredVersion: 3);
            var hub = device.Hub;

            // It connects to edgeHub with its SAS token (signed by the workload API), reads its twin and reports.
            await device.UntilAsync(() => hub.AcceptedConnects.Count > 0, "the module's MQTT connection accepted by edgeHub", TimeSpan.FromSeconds(60), container);
            Assert.True(device.Workload.SignRequests > 0);
            await device.UntilAsync(() => hub.Reported["lastDesiredVersion"]?.Value<long>() == 3, "lastDesiredVersion 3 reported", TimeSpan.FromSeconds(60), container);
            Assert.Equal(200, hub.Reported["lastDesiredStatus"]?["code"]?.Value<int>());

            // Activation and sync state reported; the parent's image synced into the module.
            await device.UntilAsync(() => hub.Reported["activationState"]?.Value<string>() == "Active", "activationState Active", TimeSpan.FromSeconds(60), container);
            await device.UntilAsync(() => hub.Reported["sync"]?["lastSyncTime"]?.Type is JTokenType.String or JTokenType.Date, "a sync pass reported", TimeSpan.FromSeconds(90), container);
            Assert.Contains(hub.Reported["connectionState"]?.Value<string>(), (string[])["Online", "Syncing"]);

            // HTTPS on 8443 with the certificate the workload API issued, chained to the edge CA.
            X509Certificate2? served = null;
            using (var https = TrustingEdgeCa(pki, c => served = c))
            {
                await device.UntilAsync(
                    () => HttpProbe.AnswersAsync(https, () => new HttpRequestMessage(HttpMethod.Get, new Uri("https://127.0.0.1:8443/v2/")), r => r.StatusCode == HttpStatusCode.Unauthorized),
                    "HTTPS on 8443 asking for credentials",
                    TimeSpan.FromSeconds(30),
                    container);
                using var request = new HttpRequestMessage(HttpMethod.Head, new Uri($"https://127.0.0.1:8443/v2/factory/app/manifests/{pushed.Digest}"));
                request.Headers.Authorization = Basic("edge-puller", "change-me");
                using var manifest = await https.SendAsync(request);
                Assert.Equal(HttpStatusCode.OK, manifest.StatusCode);
            }

            Assert.NotNull(served);
            Assert.True(device.Workload.CertificateRequests > 0);

            // Healthy through the image's own HEALTHCHECK (its first probe runs one interval, 30 s, after the start).
            await device.UntilAsync(async () => await engine.HealthAsync(container) == "healthy", "the container healthy", TimeSpan.FromSeconds(90), container);
            var healthyAfter = started.Elapsed;

            // The registry process does not run as root, and everything it wrote belongs to the app user.
            var pid = (await engine.InspectAsync(container))["State"]!["Pid"]!.Value<int>();
            Assert.Equal(1654u, ProcessUid(pid));
            Assert.Equal(string.Empty, await Tools.RunAsync("find", [hostData, "!", "-uid", "1654"]));

            // docker stop: SIGTERM, exit 0 well inside the 10 s grace period, nothing half-written.
            var stop = Stopwatch.StartNew();
            await engine.StopAsync(container, graceSeconds: 10);
            var stopTime = stop.Elapsed;
            var state = (await engine.InspectAsync(container))["State"]!;
            Assert.Equal(0, state["ExitCode"]!.Value<int>());
            Assert.False(state["OOMKilled"]!.Value<bool>());
            Assert.True(stopTime < TimeSpan.FromSeconds(8), $"docker stop took {stopTime.TotalSeconds:F1} s");
            StoreVerifier.Verify(hostData);
            Console.WriteLine($"edgeAgent deployment: healthy {healthyAfter.TotalSeconds:F1} s after start, docker stop {stopTime.TotalSeconds:F2} s");

            // edgeAgent re-creates the container on every deployment change: the new one finds the data, and serves
            // the synced image with the parent gone.
            await device.RemoveModuleAsync(container);
            await parent.StopAsync();
            container = await device.RunModuleAsync(deployment, ModuleImage.Reference, desiredVersion: 4);
            using (var https = TrustingEdgeCa(pki, _ => { }))
            {
                await device.UntilAsync(
                    () => HttpProbe.AnswersAsync(
                        https,
                        () =>
                        {
                            var request = new HttpRequestMessage(HttpMethod.Get, new Uri("https://127.0.0.1:8443/v2/factory/app/manifests/v1"));
                            request.Headers.Authorization = Basic("edge-puller", "change-me");
                            request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
                            return request;
                        },
                        r => r.StatusCode == HttpStatusCode.OK && r.Headers.GetValues("Docker-Content-Digest").Single() == pushed.Digest.ToString()),
                    "the re-created container serving the synced image from the kept data",
                    TimeSpan.FromSeconds(60),
                    container);
            }
        }
        finally
        {
            TempDirectory.Delete(layoutDir);
        }
    }

    internal static System.Net.Http.Headers.AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{user}:{password}")));

    /// <summary>A client that accepts only certificates chaining to the test edge CA (any name: the test connects by address).</summary>
    internal static HttpClient TrustingEdgeCa(TestPki pki, Action<X509Certificate2> seen)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            if (certificate is null)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.CustomTrustStore.Add(pki.Root);
            var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            seen(leaf);
            return chain.Build(leaf);
        };
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
    }

    internal static uint ProcessUid(int pid) =>
        uint.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
}
