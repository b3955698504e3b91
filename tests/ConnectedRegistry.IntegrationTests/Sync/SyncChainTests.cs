using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>
/// Three levels: docker-registry (htpasswd Basic) → this module (ReadWrite) → this module (ReadOnly, whose parent
/// is the ReadWrite instance, authenticating with its registry name and sync token through the token flow).
/// </summary>
public sealed class SyncChainTests
{
    [Fact]
    public async Task Content_flows_down_the_chain_and_up_from_the_middle_and_nothing_outside_the_subset_moves()
    {
        await using var h = await SyncHarness.StartAsync();
        var amd = h.Layout.Image("amd64", h.Layout.Layer(8000), h.Layout.Layer(9000));
        var arm = h.Layout.Image("arm64", h.Layout.Layer(8000));
        var index = h.Layout.Index(amd, arm);
        h.Layout.Tag(index, "multi");
        var mid = h.Layout.SimpleImage("mid", layerCount: 1);
        h.Layout.SimpleImage("outside", layerCount: 1);
        await h.Parent.PushAsync(h.LayoutDir, "multi", "apps/web", "v1");
        await h.Parent.PushAsync(h.LayoutDir, "outside", "other/x", "v1");
        await h.Parent.PushAsync(h.LayoutDir, "outside", "apps/unwanted", "v1");

        using (var top = h.ParentClient())
        {
            var signature = System.Text.Encoding.UTF8.GetBytes("signed " + index.Digest);
            var signatureDigest = Digest.Compute(signature);
            await top.UploadBlobAsync("apps/web", signatureDigest, new MemoryStream(signature), signature.Length, default);
            await top.UploadBlobAsync("apps/web", Digest.Compute("{}"u8), new MemoryStream("{}"u8.ToArray()), 2, default);
            var artifact = TestContent.ArtifactManifest(index, signatureDigest, signature.Length);
            var artifactDigest = await top.PutManifestAsync("apps/web", Digest.Compute(artifact).ToString(), artifact, MediaTypes.OciManifest, default);
            await top.PutManifestAsync("apps/web", $"sha256-{index.Digest.Hex}", TestContent.Json(new JObject
            {
                ["schemaVersion"] = 2,
                ["mediaType"] = MediaTypes.OciIndex,
                ["manifests"] = new JArray(new JObject { ["mediaType"] = MediaTypes.OciManifest, ["digest"] = artifactDigest.ToString(), ["size"] = artifact.Length, ["artifactType"] = "application/vnd.example.signature" }),
            }), MediaTypes.OciIndex, default);
        }

        // The middle syncs its own subset plus what its child needs; it requires credentials from clients and its child.
        const string PusherPassword = "pusher-Passw0rd";
        const string BottomPassword = "bottom-sync-Passw0rd";
        var middleSettings = new RegistrySettings
        {
            Name = "edge-middle",
            Mode = RegistryMode.ReadWrite,
            Parent = new ParentSettings { Endpoint = h.Parent.Endpoint, SyncTokenName = DockerRegistry.User },
            Sync = SyncHarness.Idle with { Repositories = ["apps/mid"] },
            Children = new Dictionary<string, ChildRegistrySettings>
            {
                ["edge-bottom"] = new() { SyncTokenPasswordHash = PasswordHasher.Hash(BottomPassword, PasswordHasher.MinIterations), Repositories = ["apps/web", "apps/mid"] },
            },
            ClientTokens = new Dictionary<string, ClientTokenSettings>
            {
                ["pusher"] = new()
                {
                    PasswordHash = PasswordHasher.Hash(PusherPassword, PasswordHasher.MinIterations),
                    ScopeMap = new Dictionary<string, IReadOnlyList<string>> { ["apps/*"] = RegistryActions.All },
                },
            },
        };
        h.Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(middleSettings);
        await Skopeo.RunAsync(["copy", "--quiet", "--dest-tls-verify=false", $"oci:{h.LayoutDir}:mid", $"docker://{h.Child.HostPort}/apps/mid:v1", "--dest-creds", $"pusher:{PusherPassword}"]);

        var bottom = await SyncHarness.StartModuleChildAsync(BottomPassword);
        try
        {
            var bottomSettings = new RegistrySettings
            {
                Name = "edge-bottom",
                Mode = RegistryMode.ReadOnly,
                Parent = new ParentSettings { Endpoint = h.Child.BaseAddress }, // user: the registry name
                Sync = SyncHarness.Idle with { Repositories = ["apps/web", "apps/mid"] },
            };
            bottom.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(bottomSettings);

            await h.Sync.RunAsync(middleSettings, default);
            await bottom.App.Services.GetRequiredService<ParentSync>().RunAsync(bottomSettings, default);

            using var topClient = h.ParentClient();
            Assert.Equal(mid.Digest, (await topClient.HeadManifestAsync("apps/mid", "v1", default))!.Digest);

            var store = bottom.App.Services.GetRequiredService<RegistryStore>();
            Assert.Equal(["apps/mid", "apps/web"], store.ListRepositories());
            Assert.Equal(index.Digest, store.GetManifest("apps/web", "v1")!.Digest);
            Assert.NotNull(store.GetManifest("apps/web", amd.Digest.ToString()));
            Assert.NotNull(store.GetManifest("apps/web", arm.Digest.ToString()));
            Assert.Single(store.ListReferrers("apps/web", index.Digest));
            Assert.Equal(mid.Digest, store.GetManifest("apps/mid", "v1")!.Digest);
            Assert.DoesNotContain("other/x", h.Store.ListRepositories());
            Assert.DoesNotContain("apps/unwanted", h.Store.ListRepositories());

            // Without the right sync password the bottom gets nothing.
            var wrong = bottomSettings with { Parent = new ParentSettings { Endpoint = h.Child.BaseAddress, SyncTokenName = "edge-intruder" } };
            await Assert.ThrowsAsync<ParentRegistryException>(() => bottom.App.Services.GetRequiredService<ParentSync>().RunAsync(wrong, default));

            // The bottom pulls the signed image whole through a real client.
            var pulled = TempDirectory.Create("pulled");
            try
            {
                await Skopeo.RunAsync(["copy", "--all", "--quiet", "--src-tls-verify=false", $"docker://{bottom.HostPort}/apps/web:v1", $"oci:{pulled}:v1"]);
            }
            finally
            {
                TempDirectory.Delete(pulled);
            }
        }
        finally
        {
            await bottom.DisposeAsync();
            bottom.DeleteData();
        }
    }
}
