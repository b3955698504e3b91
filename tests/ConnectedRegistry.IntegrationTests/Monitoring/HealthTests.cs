using System.Diagnostics;
using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Monitoring;

/// <summary>/healthz and /readyz on the metrics port, and the image's <c>health</c> command against a running registry.</summary>
public sealed class HealthTests
{
    [Fact]
    public async Task Readyz_names_each_check_and_fails_while_the_data_root_is_read_only()
    {
        // The data root's write path (staging/, where pushes and the probe write) becomes a read-only tmpfs under the
        // running registry: root ignores chmod, not a read-only mount. (A remount of the whole root is refused while
        // SQLite holds files open for writing.)
        await using var registry = await RegistryInstance.StartAsync();
        var staging = Path.Combine(registry.DataRoot, "staging");
        try
        {
            using var http = new HttpClient { BaseAddress = MetricsPort.Address(registry) };

            var (status, body) = await GetAsync(http, "/readyz");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("Healthy", (string?)body["status"]);
            foreach (var check in new[] { "dataRoot", "databases", "settings", "connectionState" })
            {
                Assert.Equal("Healthy", (string?)body["checks"]![check]!["status"]);
            }

            Assert.Equal(0, await HealthCommandAsync(registry));

            await Tools.RunAsync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", staging]);
            await Poll.UntilAsync(async () => (await GetAsync(http, "/readyz")).Status == HttpStatusCode.ServiceUnavailable, "the write probe's cached answer expires");
            (status, body) = await GetAsync(http, "/readyz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal("Unhealthy", (string?)body["status"]);
            Assert.Equal("Unhealthy", (string?)body["checks"]!["dataRoot"]!["status"]);
            Assert.Contains("cannot be written", (string?)body["checks"]!["dataRoot"]!["description"], StringComparison.Ordinal);
            Assert.Equal("Healthy", (string?)body["checks"]!["settings"]!["status"]);
            Assert.Equal("Healthy", (string?)body["checks"]!["databases"]!["status"]);
            Assert.NotEqual(0, await HealthCommandAsync(registry));

            // Live all the same: the process serves.
            (status, body) = await GetAsync(http, "/healthz");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("Healthy", (string?)body["checks"]!["process"]!["status"]);

            await Tools.RunAsync("umount", [staging]);
            await Poll.UntilAsync(async () => (await GetAsync(http, "/readyz")).Status == HttpStatusCode.OK, "ready again once the data root takes writes");
            Assert.Equal(0, await HealthCommandAsync(registry));
        }
        finally
        {
            if (File.ReadAllText("/proc/mounts").Contains(" " + staging + " ", StringComparison.Ordinal))
            {
                await Tools.RunAsync("umount", ["-l", staging]);
            }

            registry.DeleteData();
        }
    }

    [Fact]
    public async Task Readyz_from_anyone_writes_and_syncs_the_probe_file_at_most_once_a_second()
    {
        // /readyz needs no credentials: each call used to create, fsync and delete a file in the data root.
        await using var registry = await RegistryInstance.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = MetricsPort.Address(registry) };
            var staging = Path.Combine(registry.DataRoot, "staging");
            Directory.CreateDirectory(staging);
            var probes = 0;
            using var watcher = new FileSystemWatcher(staging) { InternalBufferSize = 64 * 1024 };
            watcher.Created += (_, _) => Interlocked.Increment(ref probes);
            watcher.EnableRaisingEvents = true;

            var clock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, 60), new ParallelOptions { MaxDegreeOfParallelism = 6 }, async (_, token) =>
            {
                using var response = await http.GetAsync("/readyz", token);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            });
            var seconds = clock.Elapsed.TotalSeconds;
            await Task.Delay(200); // the watcher's last events
            Assert.True(probes >= 1, "the data root was never probed");
            Assert.True(probes <= Math.Ceiling(seconds) + 1, $"{probes} probe files for 60 requests in {seconds:0.00} s");
        }
        finally
        {
            registry.DeleteData();
        }
    }

    [Fact]
    public async Task Readyz_fails_while_the_registry_reports_itself_unhealthy()
    {
        await using var registry = await RegistryInstance.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = MetricsPort.Address(registry) };
            var state = registry.App.Services.GetRequiredService<ModuleState>();
            state.SetStatusDetail(new StatusDetail("DiskError", "Error", "cannot store a blob", DateTimeOffset.UtcNow));
            var status = HttpStatusCode.OK;
            var body = new JObject();
            await Poll.UntilAsync(
                async () =>
                {
                    // The scheduler's first plan (no parent: Offline) may still land just after start: set it again then.
                    state.SetConnectionState(ConnectionStates.Unhealthy);
                    (status, body) = await GetAsync(http, "/readyz");
                    return status != HttpStatusCode.OK;
                },
                "/readyz to answer for the Unhealthy state");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal("Unhealthy", (string?)body["checks"]!["connectionState"]!["status"]);
            Assert.Contains("DiskError", (string?)body["checks"]!["connectionState"]!["description"], StringComparison.Ordinal);
            Assert.Equal("Healthy", (string?)body["checks"]!["dataRoot"]!["status"]);

            state.SetConnectionState(ConnectionStates.Online);
            (status, _) = await GetAsync(http, "/readyz");
            Assert.Equal(HttpStatusCode.OK, status);
        }
        finally
        {
            registry.DeleteData();
        }
    }

    [Fact]
    public async Task The_health_command_fails_when_nothing_answers()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // a port nobody listens on any more
        Assert.Equal(1, await RunHealthAsync($"http://0.0.0.0:{port}"));
        Assert.Equal(2, await RunHealthAsync(string.Empty));
    }

    private static async Task<(HttpStatusCode Status, JObject Body)> GetAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return (response.StatusCode, JObject.Parse(await response.Content.ReadAsStringAsync()));
    }

    private static Task<int> HealthCommandAsync(RegistryInstance registry) =>
        RunHealthAsync(MetricsPort.Address(registry).ToString().TrimEnd('/'));

    /// <summary>The built module's own executable, as the image's HEALTHCHECK runs it.</summary>
    private static async Task<int> RunHealthAsync(string metricsUrls)
    {
        var (host, args) = Tools.ModuleCommand(["health", "--metrics-urls", metricsUrls, "--timeout", "10"]);
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("the health command did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        await Task.WhenAll(output, error);
        return process.ExitCode;
    }
}
