using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using ConnectedRegistry.IntegrationTests.Auth;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.IntegrationTests.Sync;
using ConnectedRegistry.Monitoring;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Monitoring;

/// <summary>The metrics port scraped like the IoT Edge metrics collector does, the body read by the Prometheus client's own parser.</summary>
public sealed class MetricsTests
{
    private const string Requests = "connected_registry_http_requests_total";
    private const string Duration = "connected_registry_http_request_duration_seconds";

    [Fact]
    public async Task A_push_a_pull_a_sync_pass_and_a_failed_login_move_each_counter_by_the_right_amount()
    {
        await using var h = await SyncHarness.StartAsync();
        var metrics = MetricsPort.Address(h.Child);
        var parentLayer = h.Layout.Layer(30_000);
        var parentManifest = await h.PushImageToParentAsync("base", parentLayer);
        var parentBlobBytes = JObject.Parse(Encoding.UTF8.GetString(parentManifest.Bytes)) is var m
            ? (long)m["config"]!["size"]! + m["layers"]!.Sum(l => (long)l["size"]!)
            : 0;
        var before = await PrometheusText.ScrapeAsync(metrics);

        // A push (two monolithic blob uploads, one manifest PUT) and a pull (manifest GET, layer GET).
        var pushed = TestContent.Image("metrics-push", layers: 1, layerSize: 10_000);
        await h.Child.Client.PushImageAsync("apps/metrics", "1.0", pushed);
        using (var get = new HttpRequestMessage(HttpMethod.Get, "/v2/apps/metrics/manifests/1.0"))
        {
            get.Headers.Accept.ParseAdd(MediaTypes.OciManifest);
            using var response = await h.Child.Client.SendAsync(get);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var layerBytes = await h.Child.Client.GetByteArrayAsync($"/v2/apps/metrics/blobs/{pushed.Layers[0].Digest}");
        Assert.Equal(pushed.Layers[0].Size, layerBytes.Length);

        // A sync pass run by the scheduler: the push goes up, the parent's image comes down.
        h.Scheduler.SyncNow();
        await Poll.UntilAsync(async () => (await ScrapeTextAsync(metrics)).Contains("result=\"succeeded\"", StringComparison.Ordinal), "a successful pass in the metrics", TimeSpan.FromSeconds(60));

        // A failed login once a token exists.
        h.Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(h.Settings with
        {
            ClientTokens = new Dictionary<string, ClientTokenSettings>(StringComparer.Ordinal)
            {
                ["puller"] = AuthSettings.Token("right-Passw0rd", new() { ["apps/*"] = [RegistryActions.ContentRead] }),
            },
        });
        using (var login = new HttpRequestMessage(HttpMethod.Get, "/v2/"))
        {
            login.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("puller:wrong-Passw0rd")));
            using var response = await h.Child.Client.SendAsync(login);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var state = h.State.Snapshot();
        var after = await PrometheusText.ScrapeAsync(metrics);
        var stateAfter = h.State.Snapshot();
        double Moved(string name, params (string, string)[] labels) => after.Value(name, labels) - before.Value(name, labels);

        Assert.Equal(2, Moved(Requests, ("route", "upload"), ("method", "POST"), ("status", "2xx")));
        Assert.Equal(1, Moved(Requests, ("route", "manifest"), ("method", "PUT"), ("status", "2xx")));
        Assert.Equal(1, Moved(Requests, ("route", "manifest"), ("method", "GET"), ("status", "2xx")));
        Assert.Equal(1, Moved(Requests, ("route", "blob"), ("method", "GET"), ("status", "2xx")));
        Assert.Equal(1, Moved(Requests, ("route", "base"), ("method", "GET"), ("status", "4xx")));
        Assert.Equal(6, Moved(Requests));
        Assert.Equal(1, Moved(Duration + "_count", ("route", "manifest"), ("method", "GET"), ("status", "2xx")));
        Assert.Equal(6, Moved(Duration + "_count"));
        Assert.True(Moved(Duration + "_sum") > 0);
        Assert.Equal(pushed.Config.Size + pushed.Layers[0].Size, Moved("connected_registry_http_received_bytes_total", ("route", "upload")));
        Assert.Equal(pushed.Manifest.Size, Moved("connected_registry_http_received_bytes_total", ("route", "manifest")));
        Assert.Equal(pushed.Layers[0].Size, Moved("connected_registry_http_sent_bytes_total", ("route", "blob")));
        Assert.Equal(pushed.Manifest.Size, Moved("connected_registry_http_sent_bytes_total", ("route", "manifest")));

        Assert.Equal(1, Moved("connected_registry_sync_passes_total", ("result", "succeeded")));
        Assert.Equal(1, Moved("connected_registry_sync_passes_total"));
        Assert.Equal(1, Moved("connected_registry_sync_pass_duration_seconds_count"));
        Assert.Equal(2, Moved("connected_registry_sync_fetched_blobs_total"));
        Assert.Equal(parentBlobBytes, Moved("connected_registry_sync_fetched_bytes_total"));
        Assert.Equal(2, Moved("connected_registry_sync_pushed_blobs_total"));
        Assert.Equal(pushed.Config.Size + pushed.Layers[0].Size, Moved("connected_registry_sync_pushed_bytes_total"));

        // Every byte on the connections to the parent, headers included: more than the blobs' bytes, not much more.
        var received = Moved("connected_registry_sync_link_bytes_total", ("direction", "received"));
        var sent = Moved("connected_registry_sync_link_bytes_total", ("direction", "sent"));
        Assert.InRange(received, parentBlobBytes + 1, parentBlobBytes + 64 * 1024);
        Assert.InRange(sent, pushed.Config.Size + pushed.Layers[0].Size + pushed.Manifest.Size + 1, pushed.Config.Size + pushed.Layers[0].Size + pushed.Manifest.Size + 64 * 1024);
        Assert.Equal(0, after.Value("connected_registry_sync_bandwidth_limit_bps"));
        Assert.Equal(1, Moved("connected_registry_auth_failed_logins_total"));
        Assert.Equal(0, after.Value("connected_registry_ondemand_fetches_total"));

        Assert.Equal(state.Sync.LastSyncTime!.Value.ToUnixTimeMilliseconds() / 1000.0, after.Value("connected_registry_sync_last_success_timestamp_seconds"), 3);
        Assert.Equal(0, after.Value("connected_registry_sync_pending_pushes"));
        Assert.Equal(1, after.Value("connected_registry_connection_state", ("state", state.ConnectionState)));
        Assert.Equal(1, after.Value("connected_registry_connection_state"));
        Assert.Equal(1, after.Value("connected_registry_activation_state"));
        Assert.Contains(after.Value("connected_registry_storage_blobs"), new double[] { state.Storage.Blobs, stateAfter.Storage.Blobs });
        Assert.Contains(after.Value("connected_registry_storage_used_bytes"), new double[] { state.Storage.UsedBytes, stateAfter.Storage.UsedBytes });
        Assert.Contains(after.Value("connected_registry_storage_repositories"), new double[] { state.Storage.Repositories, stateAfter.Storage.Repositories });
        Assert.True(after.Value("connected_registry_storage_free_bytes") > 0);

        // Prometheus types and names, and labels that never carry a repository name or a secret.
        Assert.Equal("counter", after.TypeOf("connected_registry_http_requests"));
        Assert.Equal("histogram", after.TypeOf("connected_registry_http_request_duration_seconds"));
        Assert.Equal("gauge", after.TypeOf("connected_registry_storage_used_bytes"));
        Assert.All(after.Samples.SelectMany(s => s.Labels.Values), value =>
        {
            Assert.DoesNotContain("apps", value, StringComparison.Ordinal);
            Assert.DoesNotContain("Passw0rd", value, StringComparison.Ordinal);
        });

        // The bandwidth cap in force, in bits per second, as the twin changes it.
        h.Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(h.Settings with { Sync = h.Settings.Sync with { Bandwidth = new BandwidthSettings { LimitMbps = 2.5 } } });
        await Poll.UntilAsync(async () => (await PrometheusText.ScrapeAsync(metrics)).Value("connected_registry_sync_bandwidth_limit_bps") == 2_500_000, "the cap in the metrics");
    }

    [Fact]
    public async Task Desired_documents_and_garbage_collection_are_counted()
    {
        var folder = TempDirectory.Create("metrics-twin");
        var desired = Path.Combine(folder, "desired.json");
        RegistryInstance.WriteOpenDesired(desired);
        await using var registry = await RegistryInstance.StartAsync(
            extraArgs: ["--desired", desired, "--gc-grace", "00:00:00", "--Twin:FilePollIntervalMs", "100"],
            configure: b => b.Services.AddSingleton(new ModuleEnvironment(new Dictionary<string, string>())));
        try
        {
            var metrics = MetricsPort.Address(registry);
            var before = await PrometheusText.ScrapeAsync(metrics);

            await File.WriteAllTextAsync(desired, """{ "schemaVersion": "1.0", "name": "metrics-edge" }""");
            await Poll.UntilAsync(async () => (await ScrapeTextAsync(metrics)).Contains("result=\"applied\"} " + (before.Value("connected_registry_twin_desired_documents_total", ("result", "applied")) + 1), StringComparison.Ordinal), "an applied document", TimeSpan.FromSeconds(60));
            await File.WriteAllTextAsync(desired, """{ "schemaVersion": "1.0", "name": "x", "mode": "Sideways" }""");
            await Poll.UntilAsync(async () => (await ScrapeTextAsync(metrics)).Contains("result=\"rejected\"", StringComparison.Ordinal), "a rejected document", TimeSpan.FromSeconds(60));

            // A blob no manifest references is collected (the grace is zero here).
            var orphan = new TestBlob(TestContent.Bytes("metrics-orphan", 12_345), "application/octet-stream");
            await registry.Client.PushBlobAsync("gc/orphan", orphan);
            var result = await registry.App.Services.GetRequiredService<IGarbageCollector>().CollectAsync(CancellationToken.None);
            Assert.Equal(orphan.Size, result.BytesFreed);

            var after = await PrometheusText.ScrapeAsync(metrics);
            double Moved(string name, params (string, string)[] labels) => after.Value(name, labels) - before.Value(name, labels);
            Assert.Equal(1, Moved("connected_registry_twin_desired_documents_total", ("result", "applied")));
            Assert.Equal(1, Moved("connected_registry_twin_desired_documents_total", ("result", "rejected")));
            Assert.Equal(1, Moved("connected_registry_gc_runs_total"));
            Assert.Equal(orphan.Size, Moved("connected_registry_gc_freed_bytes_total"));
        }
        finally
        {
            registry.DeleteData();
            TempDirectory.Delete(folder);
        }
    }

    [Fact]
    public async Task The_registry_port_does_not_serve_metrics_and_the_metrics_port_does_not_serve_the_registry()
    {
        await using var registry = await RegistryInstance.StartAsync();
        try
        {
            using var metricsClient = new HttpClient { BaseAddress = MetricsPort.Address(registry) };
            Assert.Equal(HttpStatusCode.NotFound, (await registry.Client.GetAsync("/metrics")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await registry.Client.GetAsync("/readyz")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await metricsClient.GetAsync("/v2/")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await registry.Client.GetAsync("/v2/")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await metricsClient.GetAsync("/metrics")).StatusCode);
            Assert.Equal(HttpStatusCode.MethodNotAllowed, (await metricsClient.PostAsync("/metrics", new StringContent(""))).StatusCode);
        }
        finally
        {
            registry.DeleteData();
        }
    }

    [Fact]
    public async Task An_empty_metrics_urls_turns_the_metrics_port_off()
    {
        await using var registry = await RegistryInstance.StartAsync(extraArgs: ["--metrics-urls", ""]);
        try
        {
            Assert.Empty(registry.App.Services.GetRequiredService<MonitoringServer>().Addresses);
            Assert.Equal(HttpStatusCode.OK, (await registry.Client.GetAsync("/v2/")).StatusCode);
        }
        finally
        {
            registry.DeleteData();
        }
    }

    private static async Task<string> ScrapeTextAsync(Uri metrics)
    {
        using var http = new HttpClient { BaseAddress = metrics };
        return await http.GetStringAsync("/metrics");
    }
}
