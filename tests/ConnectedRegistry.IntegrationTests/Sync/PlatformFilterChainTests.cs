using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// Platform filters down a tree: docker-registry → this module (its own <c>sync.platforms</c> amd64, a child that
/// names arm64 in its entry) → this module (<c>sync.platforms</c> arm64, its parent reached through a proxy the test
/// can cut). The middle syncs the union (amd64 and arm64, not arm/v7); the bottom only arm64; the Docker engine pulls
/// arm64 from the bottom with the middle unreachable, amd64 through on-demand fetch while it answers, and nothing for
/// arm/v7 while it does not.
/// </summary>
[Collection(DockerEngineCollection.Name)]
public sealed class PlatformFilterChainTests(DockerDaemon docker)
{
    private const string BottomPassword = "bottom-sync-Passw0rd";

    [Fact]
    public async Task A_parent_syncs_the_union_of_its_childrens_platforms_and_docker_pulls_arm64_offline_from_the_child()
    {
        await using var h = await SyncHarness.StartAsync();
        var image = MultiPlatformImage.Create("chain", ["linux/amd64", "linux/arm64", "linux/arm/v7"]);
        using (var top = h.ParentClient())
        {
            await image.PushAsync(top, "apps/web", "v1");
        }

        var middleSettings = new RegistrySettings
        {
            Name = "edge-middle",
            Parent = new ParentSettings { Endpoint = h.Parent.Endpoint, SyncTokenName = DockerRegistry.User },
            Sync = SyncHarness.Idle with { Repositories = ["apps/web"], Platforms = ["linux/amd64"] },
            Children = new Dictionary<string, ChildRegistrySettings>
            {
                ["edge-bottom"] = new() { SyncTokenPasswordHash = PasswordHasher.Hash(BottomPassword, PasswordHasher.MinIterations), Repositories = ["apps/web"], Platforms = ["linux/arm64"] },
            },
        };
        h.Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(middleSettings);
        await h.Sync.RunAsync(middleSettings, default);
        Held(h.Store, image, ["linux/amd64", "linux/arm64"], ["linux/arm/v7"]);

        await using var link = await ForwardingProxy.StartAsync(h.Child.BaseAddress);
        var bottom = await SyncHarness.StartModuleChildAsync(BottomPassword);
        try
        {
            var bottomSettings = new RegistrySettings
            {
                Name = "edge-bottom",
                Mode = RegistryMode.ReadOnly,
                Parent = new ParentSettings { Endpoint = link.Address },
                Sync = SyncHarness.Idle with { Repositories = ["apps/web"], Platforms = ["linux/arm64"] },
            };
            bottom.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(bottomSettings);
            await bottom.App.Services.GetRequiredService<ParentSync>().RunAsync(bottomSettings, default);
            var store = bottom.App.Services.GetRequiredService<RegistryStore>();
            Assert.Equal(image.Index.Bytes, store.GetManifest("apps/web", "v1")!.Content);
            Held(store, image, ["linux/arm64"], ["linux/amd64", "linux/arm/v7"]);

            // Online, amd64 comes on demand from the middle, which holds it.
            var remote = $"{bottom.HostPort}/apps/web:v1";
            await docker.RunAsync("pull", "--platform", "linux/amd64", remote);
            Assert.Equal(image.Images["linux/amd64"].Config.Digest.ToString(), await docker.ImageIdAsync(remote));
            await docker.RunAsync("image", "rm", remote);

            // Offline: arm64 pulls from what the bottom holds; arm/v7 cannot be had.
            link.RespondWith = _ => 502; // the API proxy of the parent device while its registry is down
            await docker.RunAsync("pull", "--platform", "linux/arm64", remote);
            Assert.Equal(image.Images["linux/arm64"].Config.Digest.ToString(), await docker.ImageIdAsync(remote));
            await docker.RunAsync("image", "rm", remote);
            var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => docker.RunAsync("pull", "--platform", "linux/arm/v7", remote));
            Assert.Contains("not found", refused.Message, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            await bottom.DisposeAsync();
            bottom.DeleteData();
        }
    }

    private static void Held(RegistryStore store, MultiPlatformImage image, string[] held, string[] absent)
    {
        Assert.All(held, p => Assert.NotNull(store.GetManifest("apps/web", image.Images[p].Manifest.Digest.ToString())));
        Assert.All(held, p => Assert.NotNull(store.GetManifest("apps/web", image.Attestations[p].Manifest.Digest.ToString())));
        Assert.All(absent, p => Assert.Null(store.GetManifest("apps/web", image.Images[p].Manifest.Digest.ToString())));
        Assert.All(absent, p => Assert.False(store.BlobExists(image.Images[p].Layers[0].Digest)));
    }
}
