using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>What the registry reports about its link to the parent tells the truth, against a real docker-registry parent.</summary>
public sealed class ReportedStateTests
{
    [Fact]
    public async Task A_parent_that_refuses_the_sync_token_is_reported_unhealthy_with_a_detail_and_readyz_names_it_while_serving_goes_on()
    {
        await using var h = await SyncHarness.StartAsync();
        h.Configure(["apps/*"], new SyncSettings());
        var wrong = h.Settings with { Parent = h.Settings.Parent! with { SyncTokenName = "not-the-sync-token" } };
        h.Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(wrong);

        await Poll.UntilAsync(() => h.State.Snapshot().ConnectionState == ConnectionStates.Unhealthy, "connectionState Unhealthy");
        var snapshot = h.State.Snapshot();
        var detail = Assert.Single(snapshot.StatusDetails, d => d.Code == SyncScheduler.CredentialsRefusedCode);
        Assert.Equal("Error", detail.Type);
        Assert.Contains("401", detail.Description, StringComparison.Ordinal);
        Assert.DoesNotContain(DockerRegistry.Password, detail.Description, StringComparison.Ordinal);

        // /readyz names the parent's refusal but stays 200: the registry serves what it holds.
        using var http = new HttpClient { BaseAddress = MetricsPort.Address(h.Child) };
        using var response = await http.GetAsync("/readyz");
        var body = JObject.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Degraded", (string?)body["checks"]!["parent"]!["status"]);
        Assert.Contains("sync token", (string?)body["checks"]!["parent"]!["description"], StringComparison.Ordinal);
        using var registry = new HttpClient();
        using var v2 = await registry.GetAsync($"http://{h.Child.HostPort}/v2/");
        Assert.Equal(HttpStatusCode.OK, v2.StatusCode);

        // The right token again: Online, the detail gone, the parent check Healthy.
        h.Configure(["apps/*"], new SyncSettings());
        await Poll.UntilAsync(() => h.State.Snapshot().ConnectionState == ConnectionStates.Online, "connectionState Online again");
        Assert.DoesNotContain(h.State.Snapshot().StatusDetails, d => d.Code == SyncScheduler.CredentialsRefusedCode);
        using var again = await http.GetAsync("/readyz");
        Assert.Equal("Healthy", (string?)JObject.Parse(await again.Content.ReadAsStringAsync())["checks"]!["parent"]!["status"]);
    }

    [Fact]
    public async Task Storage_figures_follow_stored_blobs_within_two_seconds_not_at_the_next_interval()
    {
        await using var registry = await RegistryInstance.StartAsync();
        try
        {
            var state = registry.App.Services.GetRequiredService<ModuleState>();
            await Task.Delay(500); // past the refresh at start
            var blobs = Enumerable.Range(0, 3).Select(i => new TestBlob(TestContent.Bytes("storage-figures-" + i, 1000 + i), "application/octet-stream")).ToList();
            foreach (var blob in blobs)
            {
                using var response = await registry.Client.PostAsync($"/v2/figures/blobs/uploads/?digest={blob.Digest}", new ByteArrayContent(blob.Bytes));
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            }

            var stored = System.Diagnostics.Stopwatch.StartNew();
            var expectedBytes = blobs.Sum(b => (long)b.Bytes.Length);
            await Poll.UntilAsync(() => state.Snapshot().Storage is { Blobs: 3 } s && s.UsedBytes == expectedBytes, "storage blobs 3", TimeSpan.FromSeconds(2));
            Assert.True(stored.Elapsed < TimeSpan.FromSeconds(2), $"storage figures after {stored.Elapsed.TotalSeconds:0.0} s");
        }
        finally
        {
            registry.DeleteData();
        }
    }
}
