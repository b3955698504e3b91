using System.Net;
using System.Text;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Newtonsoft.Json.Linq;
using Polly.CircuitBreaker;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>The parent client against a real docker-registry (Basic auth) with content pushed by skopeo.</summary>
public sealed class ParentRegistryClientTests : IAsyncLifetime
{
    private DockerRegistry _parent = null!;
    private string _layoutDir = null!;

    public async Task InitializeAsync()
    {
        _parent = await DockerRegistry.StartNewAsync();
        _layoutDir = TempDirectory.Create("layout");
    }

    public async Task DisposeAsync()
    {
        await _parent.DisposeAsync();
        TempDirectory.Delete(_layoutDir);
    }

    private ParentRegistryClient Client() => ParentClients.Client(_parent.Endpoint, new ParentCredentials(DockerRegistry.User, DockerRegistry.Password), ParentClients.FastOptions with { PageSize = 2 });

    [Fact]
    public async Task Reads_catalog_tags_manifests_and_blobs_with_basic_auth_following_pages()
    {
        var layout = new OciLayoutBuilder(_layoutDir);
        var image = layout.SimpleImage("v1", layerCount: 2, layerSize: 10_000);
        foreach (var repo in new[] { "apps/one", "apps/two", "base" })
        {
            await _parent.PushAsync(_layoutDir, "v1", repo, "v1");
        }

        foreach (var tag in new[] { "v2", "v3" })
        {
            await _parent.PushAsync(_layoutDir, "v1", "apps/one", tag);
        }

        using var client = Client();
        Assert.Equal(["apps/one", "apps/two", "base"], (await client.CatalogAsync(default)).Order());
        Assert.Equal(["v1", "v2", "v3"], (await client.ListTagsAsync("apps/one", default))!.Order());
        Assert.Null(await client.ListTagsAsync("not/there", default));

        var byTag = await client.GetManifestAsync("apps/one", "v1", default);
        Assert.NotNull(byTag);
        Assert.Equal(image.Digest, byTag.Digest);
        Assert.Equal(MediaTypes.OciManifest, byTag.MediaType);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(_layoutDir, "blobs", "sha256", image.Digest.Hex)), byTag.Bytes);
        var byDigest = await client.GetManifestAsync("apps/one", image.Digest.ToString(), default);
        Assert.Equal(byTag.Bytes, byDigest!.Bytes);
        var head = await client.HeadManifestAsync("apps/one", "v2", default);
        Assert.Equal(image.Digest, head!.Digest);
        Assert.Null(await client.GetManifestAsync("apps/one", "nope", default));

        var references = byTag.Parse();
        Assert.Equal(3, references.RequiredBlobs.Count());
        var layer = references.Layers[0];
        var expected = await File.ReadAllBytesAsync(Path.Combine(_layoutDir, "blobs", "sha256", layer.Digest.Hex));
        Assert.Equal(expected.LongLength, await client.HeadBlobAsync("apps/two", layer.Digest, default));
        await using (var whole = await client.GetBlobAsync("apps/two", layer.Digest, 0, default))
        {
            Assert.Equal(0, whole.Offset);
            Assert.Equal(expected, await ReadAllAsync(whole.Content));
        }

        await using (var tail = await client.GetBlobAsync("apps/two", layer.Digest, 1000, default))
        {
            Assert.Equal(1000, tail.Offset);
            Assert.Equal(expected.LongLength, tail.TotalLength);
            Assert.Equal(expected[1000..], await ReadAllAsync(tail.Content));
        }

        Assert.Null(await client.HeadBlobAsync("apps/two", Digest.Compute("absent"u8), default));
    }

    [Fact]
    public async Task Pushes_blobs_mounts_and_manifests_and_finds_referrers_through_the_tag_schema()
    {
        var layout = new OciLayoutBuilder(_layoutDir);
        var image = layout.SimpleImage("v1", layerCount: 1);
        await _parent.PushAsync(_layoutDir, "v1", "src", "v1");
        using var client = Client();

        // Mount the image's blobs into another repository, then put the manifest there.
        var manifest = (await client.GetManifestAsync("src", "v1", default))!;
        foreach (var blob in manifest.Parse().RequiredBlobs)
        {
            Assert.True(await client.MountBlobAsync("dst", blob.Digest, "src", default));
        }

        Assert.Equal(image.Digest, await client.PutManifestAsync("dst", "copied", manifest.Bytes, manifest.MediaType, default));
        Assert.Equal(image.Digest, (await client.HeadManifestAsync("dst", "copied", default))!.Digest);

        // A signature-like artifact: an uploaded blob, a manifest with a subject, and the referrers tag-schema index.
        var payload = Encoding.UTF8.GetBytes("signature of " + image.Digest);
        var payloadDigest = Digest.Compute(payload);
        await client.UploadBlobAsync("src", payloadDigest, new MemoryStream(payload), payload.Length, default);
        var empty = "{}"u8.ToArray();
        await client.UploadBlobAsync("src", Digest.Compute(empty), new MemoryStream(empty), empty.Length, default);
        Assert.Equal(payload.LongLength, await client.HeadBlobAsync("src", payloadDigest, default));
        var artifact = TestContent.ArtifactManifest(image, payloadDigest, payload.Length);
        var artifactDigest = await client.PutManifestAsync("src", Digest.Compute(artifact).ToString(), artifact, MediaTypes.OciManifest, default);
        var referrersIndex = TestContent.Json(new JObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciIndex,
            ["manifests"] = new JArray(new JObject { ["mediaType"] = MediaTypes.OciManifest, ["digest"] = artifactDigest.ToString(), ["size"] = artifact.Length, ["artifactType"] = "application/vnd.example.signature" }),
        });
        await client.PutManifestAsync("src", $"sha256-{image.Digest.Hex}", referrersIndex, MediaTypes.OciIndex, default);

        var referrers = (await client.ReferrersAsync("src", image.Digest, default))!;
        var referrer = Assert.Single(referrers);
        Assert.Equal(artifactDigest, referrer.Digest);
        Assert.Equal("application/vnd.example.signature", referrer.ArtifactType);
        Assert.Equal(image.Digest, (await client.GetManifestAsync("src", artifactDigest.ToString(), default))!.Parse().Subject!.Digest);
        Assert.Empty((await client.ReferrersAsync("dst", image.Digest, default))!);
        Assert.Null(await client.ReferrersAsync("src", image.Digest, default, useTagSchema: false));
    }

    [Fact]
    public async Task Wrong_password_is_an_unauthorized_error()
    {
        using var client = ParentClients.Client(_parent.Endpoint, new ParentCredentials(DockerRegistry.User, "wrong"));
        var error = await Assert.ThrowsAsync<ParentRegistryException>(() => client.CatalogAsync(default));
        Assert.Equal(HttpStatusCode.Unauthorized, error.Status);
        Assert.DoesNotContain("wrong", error.Message, StringComparison.Ordinal);
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }
}
