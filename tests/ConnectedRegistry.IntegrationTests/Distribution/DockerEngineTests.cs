using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Hierarchy;
using ConnectedRegistry.IntegrationTests.Infrastructure;

namespace ConnectedRegistry.IntegrationTests.Distribution;

/// <summary>
/// The Docker engine (moby, what edgeAgent pulls with) as a client of this registry: <c>docker login</c>, <c>push</c>
/// and <c>pull</c> with client tokens, straight to the registry and through nginx running the stock IoT Edge API
/// proxy configuration with TLS from a test CA (which Docker verifies).
/// </summary>
[Collection(DockerEngineCollection.Name)]
public sealed class DockerEngineTests(DockerDaemon docker)
{
    private const string PusherPassword = "pusher-Passw0rd";
    private const string PullerPassword = "puller-Passw0rd";

    private static RegistrySettings Settings() => new()
    {
        Name = "edge-docker-1",
        ClientTokens = new Dictionary<string, ClientTokenSettings>
        {
            ["pusher"] = new() { PasswordHash = HierarchyHarness.Hash(PusherPassword), ScopeMap = new Dictionary<string, IReadOnlyList<string>> { ["factory/*"] = RegistryActions.All } },
            ["puller"] = new() { PasswordHash = HierarchyHarness.Hash(PullerPassword), ScopeMap = new Dictionary<string, IReadOnlyList<string>> { ["factory/*"] = [RegistryActions.ContentRead, RegistryActions.MetadataRead] } },
        },
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Docker_logs_in_pushes_and_pulls_with_tokens(bool throughApiProxy)
    {
        var registry = await HierarchyHarness.StartAsync();
        ApiProxy? proxy = null;
        IDisposable? trust = null;
        try
        {
            registry.Apply(Settings());
            var host = registry.HostPort;
            if (throughApiProxy)
            {
                proxy = await ApiProxy.StartAsync(registry.HostPort);
                trust = docker.TrustCa(proxy.HostPort, proxy.CaPem);
                host = proxy.HostPort;
            }

            var name = "app-" + Guid.NewGuid().ToString("N")[..8];
            var local = $"local/{name}:v1";
            var remote = $"{host}/factory/{name}:v1";
            var id = await docker.ImportImageAsync(local);
            await docker.RunAsync("tag", local, remote);

            // Without a login the registry asks for one.
            var anonymous = await Assert.ThrowsAsync<InvalidOperationException>(() => docker.RunAsync("push", remote));
            Assert.Contains("unauthorized", anonymous.Message, StringComparison.OrdinalIgnoreCase);

            await docker.RunAsync("login", "-u", "puller", "-p", PullerPassword, host);
            var denied = await Assert.ThrowsAsync<InvalidOperationException>(() => docker.RunAsync("push", remote));
            Assert.Contains("denied", denied.Message, StringComparison.OrdinalIgnoreCase);

            await docker.RunAsync("login", "-u", "pusher", "-p", PusherPassword, host);
            await docker.RunAsync("push", remote);
            var stored = registry.Store().GetManifest("factory/" + name, "v1");
            Assert.NotNull(stored);

            // Drop the image locally, pull it back as the read-only token: the same image.
            await docker.RunAsync("image", "rm", "-f", id);
            await docker.RunAsync("login", "-u", "puller", "-p", PullerPassword, host);
            await docker.RunAsync("pull", remote);
            Assert.Equal(id, await docker.ImageIdAsync(remote));
            await docker.RunAsync("logout", host);
            await docker.RunAsync("image", "rm", "-f", id);

            if (proxy is not null)
            {
                // Docker followed the realm through the proxy, and every request took /v2 or /acr: nothing was refused.
                var requests = proxy.Requests();
                Assert.Contains(requests, r => r.StartsWith("GET /acr/oauth2/token 200", StringComparison.Ordinal));
                Assert.Contains(requests, r => r.StartsWith($"PUT /v2/factory/{name}/manifests/v1 201", StringComparison.Ordinal));
                Assert.True(requests.Any(r => r.StartsWith($"GET /v2/factory/{name}/manifests/", StringComparison.Ordinal) && r.EndsWith(" 200", StringComparison.Ordinal)), string.Join("\n", requests));
                Assert.DoesNotContain(requests, r => r.EndsWith(" 403", StringComparison.Ordinal) && !r.Contains("/v2/", StringComparison.Ordinal));
            }
        }
        finally
        {
            trust?.Dispose();
            if (proxy is not null)
            {
                await proxy.DisposeAsync();
            }

            await registry.DisposeAsync();
            registry.DeleteData();
        }
    }
}
