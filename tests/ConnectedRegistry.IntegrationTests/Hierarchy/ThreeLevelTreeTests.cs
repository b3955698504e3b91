using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.Hierarchy;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.IntegrationTests.Sync;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;
using static ConnectedRegistry.IntegrationTests.Infrastructure.HierarchyHarness;

namespace ConnectedRegistry.IntegrationTests.Hierarchy;

/// <summary>
/// The tree as deployed, every part running on its own (schedulers, activation, change feed) and credentials everywhere:
/// docker-registry with htpasswd at the top → this module ReadWrite in the middle (client tokens, the bottom as its
/// child) → this module ReadOnly at the bottom (its sync token at the middle, its own client token for pulls).
/// <see cref="SyncChainTests"/> drives single passes by hand; this test only pushes and watches.
/// </summary>
public sealed class ThreeLevelTreeTests
{
    private const string BottomPassword = "bottom-sync-Passw0rd";
    private const string PullerPassword = "line-puller-Passw0rd";

    [Fact]
    public async Task Content_moves_through_a_running_tree_with_tokens_everywhere()
    {
        await using var top = await DockerRegistry.StartNewAsync();
        var middle = await StartAsync(syncPassword: DockerRegistry.Password);
        // The bottom's scheduler idles for ten minutes between passes: what reaches it later came through the change feed.
        var bottom = await StartAsync(syncPassword: BottomPassword, scheduler: new SyncSchedulerOptions { IdleDelay = TimeSpan.FromMinutes(10), RetryDelay = TimeSpan.FromMilliseconds(300) });
        var layoutDir = TempDirectory.Create("layout");
        var pulled = TempDirectory.Create("pulled");
        try
        {
            var layout = new OciLayoutBuilder(layoutDir);
            var amd = layout.Image("amd64", layout.Layer(6000), layout.Layer(7000));
            var arm = layout.Image("arm64", layout.Layer(6000));
            var index = layout.Index(amd, arm);
            layout.Tag(index, "multi");
            var local = layout.SimpleImage("local", layerCount: 1);
            var later = layout.SimpleImage("later", layerCount: 1);
            layout.SimpleImage("outside", layerCount: 1);
            await top.PushAsync(layoutDir, "multi", "apps/web", "v1");
            await top.PushAsync(layoutDir, "outside", "other/x", "v1");
            await top.PushAsync(layoutDir, "outside", "apps/unwanted", "v1");
            var signatureDigest = await SignAsync(top, index);

            var middleSettings = ChildSettings("edge-middle", top.Endpoint, ["apps/mid"], RegistryMode.ReadWrite) with
            {
                Parent = new ParentSettings { Endpoint = top.Endpoint, SyncTokenName = DockerRegistry.User },
                Children = new Dictionary<string, ChildRegistrySettings>
                {
                    ["edge-bottom"] = new() { Mode = RegistryMode.ReadOnly, SyncTokenPasswordHash = Hash(BottomPassword), Repositories = ["apps/web", "apps/mid"] },
                },
            };
            middle.Apply(middleSettings);
            var bottomSettings = ChildSettings("edge-bottom", middle.BaseAddress, ["apps/web", "apps/mid"]) with
            {
                ClientTokens = new Dictionary<string, ClientTokenSettings>
                {
                    ["line-puller"] = new()
                    {
                        PasswordHash = Hash(PullerPassword),
                        ScopeMap = new Dictionary<string, IReadOnlyList<string>> { ["apps/web"] = [RegistryActions.ContentRead, RegistryActions.MetadataRead] },
                    },
                },
            };
            bottom.Apply(bottomSettings);

            // Down two levels: the signed multi-platform image arrives whole.
            await Poll.UntilAsync(() => bottom.Store().GetManifest("apps/web", "v1") is not null && bottom.Store().ListReferrers("apps/web", index.Digest).Count == 1, "the signed image reaches the bottom", TimeSpan.FromSeconds(30));
            Assert.Equal(index.Digest, bottom.Store().GetManifest("apps/web", "v1")!.Digest);
            Assert.NotNull(bottom.Store().GetManifest("apps/web", amd.Digest.ToString()));
            Assert.NotNull(bottom.Store().GetManifest("apps/web", arm.Digest.ToString()));
            Assert.True(bottom.Store().BlobExists(signatureDigest));

            // Activation: the middle activated locally (plain OCI top), the bottom at the middle, which reports it.
            Assert.Equal(ActivationStates.Active, middle.State().ActivationState);
            Assert.True(middle.State().HasDetail(LocalActivation.DetailActivatedLocally, "Information"));
            Assert.Equal(ActivationStates.Active, bottom.State().ActivationState);
            Assert.Equal(LocalActivation.ViaParent, bottom.Activation().Current.Via);
            var reported = middle.State().Children["edge-bottom"];
            Assert.Equal(ActivationStates.Active, reported.ActivationState);
            Assert.NotNull(reported.LastSeen);

            // Up one level: a client token pushes to the middle, sync up delivers it to the top, and down to the bottom.
            await PushAsync(middle, layoutDir, "local", "apps/mid", "v1");
            await Poll.UntilAsync(() => InspectDigest(top, "apps/mid", "v1") == local.Digest, "the middle's push reaches the top", TimeSpan.FromSeconds(30));
            await Poll.UntilAsync(() => bottom.Store().GetManifest("apps/mid", "v1") is not null, "the middle's push reaches the bottom", TimeSpan.FromSeconds(30));

            // New content at the top reaches the bottom within seconds: the middle's pass records it, the feed wakes the bottom.
            var stopwatch = System.Diagnostics.Stopwatch.StartNew();
            await top.PushAsync(layoutDir, "later", "apps/web", "v2");
            await Poll.UntilAsync(() => bottom.Store().GetManifest("apps/web", "v2") is not null, "v2 reaches the bottom", TimeSpan.FromSeconds(30));
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(20), $"took {stopwatch.Elapsed}");
            Assert.Equal(later.Digest, bottom.Store().GetManifest("apps/web", "v2")!.Digest);
            Assert.True(bottom.App.Services.GetRequiredService<ChangeFeedFollower>().ChangesSeen > 0);

            // Nothing outside the subset moved.
            Assert.DoesNotContain("other/x", middle.Store().ListRepositories());
            Assert.DoesNotContain("apps/unwanted", middle.Store().ListRepositories());
            Assert.Equal(["apps/mid", "apps/web"], bottom.Store().ListRepositories());

            // A client pulls from the bottom with its token; without credentials, or beyond its scope, it is refused.
            await Tools.RunAsync("skopeo", ["copy", "--all", "--quiet", "--src-tls-verify=false", "--src-creds", $"line-puller:{PullerPassword}",
                $"docker://{bottom.HostPort}/apps/web:v1", $"oci:{pulled}:v1"]);
            var raw = await Tools.RunAsync("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", $"line-puller:{PullerPassword}", $"docker://{bottom.HostPort}/apps/web:v1"]);
            Assert.Equal(index.Digest, Digest.Compute(System.Text.Encoding.UTF8.GetBytes(raw.TrimEnd('\n'))));
            Assert.True(File.Exists(Path.Combine(pulled, "blobs", "sha256", amd.Digest.Hex)));
            Assert.True(File.Exists(Path.Combine(pulled, "blobs", "sha256", arm.Digest.Hex)));
            using (var anonymous = await bottom.Client.GetAsync("/v2/apps/web/manifests/v1"))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            }

            using var beyond = new HttpRequestMessage(HttpMethod.Get, "/v2/apps/mid/manifests/v1");
            beyond.Headers.Authorization = Basic("line-puller", PullerPassword);
            using (var response = await bottom.Client.SendAsync(beyond))
            {
                Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            }

            // The ReadOnly bottom refuses the client's push.
            await Assert.ThrowsAnyAsync<Exception>(() => PushAsync(bottom, layoutDir, "later", "apps/web", "pushed"));
            Assert.Null(bottom.Store().GetManifest("apps/web", "pushed"));
        }
        finally
        {
            TempDirectory.Delete(layoutDir);
            TempDirectory.Delete(pulled);
            await bottom.DisposeAsync();
            bottom.DeleteData();
            await middle.DisposeAsync();
            middle.DeleteData();
        }
    }

    /// <summary>Puts a signature artifact for <paramref name="subject"/> at the top (distribution 2.x: the referrers tag schema).</summary>
    private static async Task<Digest> SignAsync(DockerRegistry top, TestBlob subject)
    {
        using var client = ParentClients.Client(top.Endpoint, new ParentCredentials(DockerRegistry.User, DockerRegistry.Password));
        var signature = System.Text.Encoding.UTF8.GetBytes("signed " + subject.Digest);
        var signatureDigest = Digest.Compute(signature);
        await client.UploadBlobAsync("apps/web", signatureDigest, new MemoryStream(signature), signature.Length, default);
        await client.UploadBlobAsync("apps/web", Digest.Compute("{}"u8), new MemoryStream("{}"u8.ToArray()), 2, default);
        var artifact = TestContent.ArtifactManifest(subject, signatureDigest, signature.Length);
        var artifactDigest = await client.PutManifestAsync("apps/web", Digest.Compute(artifact).ToString(), artifact, MediaTypes.OciManifest, default);
        await client.PutManifestAsync("apps/web", $"sha256-{subject.Digest.Hex}", TestContent.Json(new JObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciIndex,
            ["manifests"] = new JArray(new JObject { ["mediaType"] = MediaTypes.OciManifest, ["digest"] = artifactDigest.ToString(), ["size"] = artifact.Length, ["artifactType"] = "application/vnd.example.signature" }),
        }), MediaTypes.OciIndex, default);
        return signatureDigest;
    }

    private static Digest? InspectDigest(DockerRegistry top, string repository, string tag)
    {
        using var client = ParentClients.Client(top.Endpoint, new ParentCredentials(DockerRegistry.User, DockerRegistry.Password));
        return client.HeadManifestAsync(repository, tag, default).GetAwaiter().GetResult()?.Digest;
    }
}
