using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.IntegrationTests.Distribution;

public sealed class ManifestApiTests(RegistryFixture fixture) : IClassFixture<RegistryFixture>
{
    private readonly HttpClient _client = fixture.Client;

    [Fact]
    public async Task Put_by_tag_returns_201_with_location_and_digest_and_get_returns_exact_bytes()
    {
        var image = TestContent.Image("put-tag");
        foreach (var blob in image.Blobs)
        {
            await _client.PushBlobAsync("manifests/put", blob);
        }

        var put = await _client.PutManifestAsync("manifests/put", "v1", image.Manifest);

        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal($"/v2/manifests/put/manifests/{image.Manifest.Digest}", put.Headers.Location!.OriginalString);
        Assert.Equal(image.Manifest.Digest.ToString(), Assert.Single(put.Headers.GetValues("Docker-Content-Digest")));
        foreach (var reference in new[] { "v1", image.Manifest.Digest.ToString() })
        {
            var get = await _client.GetAsync($"/v2/manifests/put/manifests/{reference}");
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal(MediaTypes.OciManifest, get.Content.Headers.ContentType!.MediaType);
            Assert.Equal(image.Manifest.Digest.ToString(), Assert.Single(get.Headers.GetValues("Docker-Content-Digest")));
            Assert.Equal(image.Manifest.Bytes, await get.Content.ReadAsByteArrayAsync());
        }

        var head = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/v2/manifests/put/manifests/v1"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(image.Manifest.Size, head.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task Exact_bytes_are_kept_even_with_unusual_whitespace()
    {
        var image = TestContent.Image("whitespace");
        foreach (var blob in image.Blobs)
        {
            await _client.PushBlobAsync("manifests/ws", blob);
        }

        var pretty = new TestBlob(Encoding.UTF8.GetBytes("  \n" + Newtonsoft.Json.Linq.JToken.Parse(Encoding.UTF8.GetString(image.Manifest.Bytes)).ToString() + "\n\n"), MediaTypes.OciManifest);
        var put = await _client.PutManifestAsync("manifests/ws", "pretty", pretty);

        Assert.Equal(pretty.Digest.ToString(), Assert.Single(put.Headers.GetValues("Docker-Content-Digest")));
        Assert.Equal(pretty.Bytes, await _client.GetByteArrayAsync($"/v2/manifests/ws/manifests/{pretty.Digest}"));
    }

    [Fact]
    public async Task Put_by_digest_must_match_the_content()
    {
        var image = TestContent.Image("by-digest");
        foreach (var blob in image.Blobs)
        {
            await _client.PushBlobAsync("manifests/bydigest", blob);
        }

        var ok = await _client.PutManifestAsync("manifests/bydigest", image.Manifest.Digest.ToString(), image.Manifest);
        Assert.Equal(HttpStatusCode.Created, ok.StatusCode);

        var other = TestContent.Image("by-digest-other").Manifest.Digest;
        var mismatch = await _client.PutManifestAsync("manifests/bydigest", other.ToString(), image.Manifest);
        Assert.Equal(HttpStatusCode.BadRequest, mismatch.StatusCode);
        Assert.Equal("DIGEST_INVALID", await mismatch.ErrorCodeAsync());
    }

    [Fact]
    public async Task Missing_referenced_blob_is_manifest_blob_unknown()
    {
        var image = TestContent.Image("missing-layer");
        await _client.PushBlobAsync("manifests/missing", image.Config);

        var put = await _client.PutManifestAsync("manifests/missing", "v1", image.Manifest);

        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Equal("MANIFEST_BLOB_UNKNOWN", await put.ErrorCodeAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync("/v2/manifests/missing/manifests/v1")).StatusCode);
    }

    [Fact]
    public async Task Index_whose_child_is_missing_is_manifest_blob_unknown()
    {
        var child = TestContent.Image("index-child");
        var index = TestContent.Index([(child, "amd64")]);

        var put = await _client.PutManifestAsync("manifests/index", "multi", index);
        Assert.Equal("MANIFEST_BLOB_UNKNOWN", await put.ErrorCodeAsync());

        await _client.PushImageAsync("manifests/index", child.Manifest.Digest.ToString(), child);
        Assert.Equal(HttpStatusCode.Created, (await _client.PutManifestAsync("manifests/index", "multi", index)).StatusCode);
    }

    [Fact]
    public async Task Docker_manifest_list_and_schema2_are_stored_with_their_media_types()
    {
        var child = TestContent.Image("docker-child", mediaType: MediaTypes.DockerManifest);
        await _client.PushImageAsync("manifests/docker", "child", child);
        var list = TestContent.Index([(child, "amd64")], MediaTypes.DockerManifestList);

        Assert.Equal(HttpStatusCode.Created, (await _client.PutManifestAsync("manifests/docker", "list", list)).StatusCode);

        var get = await _client.GetAsync("/v2/manifests/docker/manifests/list");
        Assert.Equal(MediaTypes.DockerManifestList, get.Content.Headers.ContentType!.MediaType);
        Assert.Equal(list.Bytes, await get.Content.ReadAsByteArrayAsync());
        var childGet = await _client.GetAsync("/v2/manifests/docker/manifests/child");
        Assert.Equal(MediaTypes.DockerManifest, childGet.Content.Headers.ContentType!.MediaType);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{\"schemaVersion\":1}")]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}")]
    [InlineData("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:bad\",\"size\":1},\"layers\":[]}")]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}")]
    public async Task Invalid_manifest_is_manifest_invalid(string body)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.ContentType = new MediaTypeHeaderValue(MediaTypes.OciManifest);

        var put = await _client.PutAsync("/v2/manifests/invalid/manifests/v1", content);

        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Equal("MANIFEST_INVALID", await put.ErrorCodeAsync());
    }

    [Fact]
    public async Task Media_type_in_body_must_agree_with_content_type()
    {
        var image = TestContent.Image("type-mismatch");
        foreach (var blob in image.Blobs)
        {
            await _client.PushBlobAsync("manifests/typemismatch", blob);
        }

        var content = new ByteArrayContent(image.Manifest.Bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(MediaTypes.DockerManifest);
        var put = await _client.PutAsync("/v2/manifests/typemismatch/manifests/v1", content);

        Assert.Equal("MANIFEST_INVALID", await put.ErrorCodeAsync());
    }

    [Fact]
    public async Task Oversized_manifest_is_rejected_with_413()
    {
        var huge = new byte[RegistryStoreLimit + 1];
        Array.Fill(huge, (byte)' ');
        var content = new ByteArrayContent(huge);
        content.Headers.ContentType = new MediaTypeHeaderValue(MediaTypes.OciManifest);

        var put = await _client.PutAsync("/v2/manifests/huge/manifests/v1", content);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, put.StatusCode);
        Assert.Equal("MANIFEST_INVALID", await put.ErrorCodeAsync());
    }

    [Fact]
    public async Task Subject_is_echoed_in_oci_subject_header()
    {
        var image = TestContent.Image("subject-target");
        await _client.PushImageAsync("manifests/subject", "app", image);
        var artifact = TestContent.Artifact("subject-sig", "application/vnd.example.sig", image.Manifest);
        foreach (var blob in artifact.Blobs)
        {
            await _client.PushBlobAsync("manifests/subject", blob);
        }

        var put = await _client.PutManifestAsync("manifests/subject", artifact.Manifest.Digest.ToString(), artifact.Manifest);

        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(image.Manifest.Digest.ToString(), Assert.Single(put.Headers.GetValues("OCI-Subject")));
    }

    [Fact]
    public async Task Delete_by_tag_removes_only_the_tag()
    {
        var image = TestContent.Image("delete-tag");
        await _client.PushImageAsync("manifests/deltag", "v1", image);

        var delete = await _client.DeleteAsync("/v2/manifests/deltag/manifests/v1");

        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        var byTag = await _client.GetAsync("/v2/manifests/deltag/manifests/v1");
        Assert.Equal(HttpStatusCode.NotFound, byTag.StatusCode);
        Assert.Equal("MANIFEST_UNKNOWN", await byTag.ErrorCodeAsync());
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync($"/v2/manifests/deltag/manifests/{image.Manifest.Digest}")).StatusCode);
    }

    [Fact]
    public async Task Delete_by_digest_removes_the_manifest_and_its_tags()
    {
        var image = TestContent.Image("delete-digest");
        await _client.PushImageAsync("manifests/deldigest", "v1", image);

        var delete = await _client.DeleteAsync($"/v2/manifests/deldigest/manifests/{image.Manifest.Digest}");

        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"/v2/manifests/deldigest/manifests/{image.Manifest.Digest}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync("/v2/manifests/deldigest/manifests/v1")).StatusCode);
        var again = await _client.DeleteAsync($"/v2/manifests/deldigest/manifests/{image.Manifest.Digest}");
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Equal("MANIFEST_UNKNOWN", await again.ErrorCodeAsync());
    }

    [Fact]
    public async Task Unknown_manifest_in_unknown_repository_is_name_unknown()
    {
        var response = await _client.GetAsync("/v2/manifests/never/manifests/latest");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("NAME_UNKNOWN", await response.ErrorCodeAsync());
    }

    [Fact]
    public async Task Oci_manifest_is_not_served_to_a_client_that_does_not_accept_it()
    {
        var image = TestContent.Image("negotiation");
        await _client.PushImageAsync("manifests/accept", "v1", image);

        var refused = new HttpRequestMessage(HttpMethod.Get, "/v2/manifests/accept/manifests/v1");
        refused.Headers.Accept.ParseAdd(MediaTypes.DockerManifest);
        var response = await _client.SendAsync(refused);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("MANIFEST_UNKNOWN", await response.ErrorCodeAsync());

        var accepted = new HttpRequestMessage(HttpMethod.Get, "/v2/manifests/accept/manifests/v1");
        accepted.Headers.Accept.ParseAdd(MediaTypes.DockerManifest);
        accepted.Headers.Accept.ParseAdd(MediaTypes.OciManifest);
        Assert.Equal(HttpStatusCode.OK, (await _client.SendAsync(accepted)).StatusCode);
    }

    [Fact]
    public async Task Retagging_moves_the_tag()
    {
        var first = TestContent.Image("retag-1");
        var second = TestContent.Image("retag-2");
        await _client.PushImageAsync("manifests/retag", "latest", first);
        await _client.PushImageAsync("manifests/retag", "latest", second);

        Assert.Equal(second.Manifest.Bytes, await _client.GetByteArrayAsync("/v2/manifests/retag/manifests/latest"));
    }

    [Fact]
    public async Task Referrers_fallback_tag_is_stored_and_served_like_any_tag()
    {
        var image = TestContent.Image("fallback-subject");
        await _client.PushImageAsync("manifests/fallback", "app", image);
        var artifact = TestContent.Artifact("fallback-sig", "application/vnd.example.sig", image.Manifest);
        await _client.PushImageAsync("manifests/fallback", artifact.Manifest.Digest.ToString(), artifact);
        var fallback = new TestBlob(TestContent.Json(new Dictionary<string, object>
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciIndex,
            ["manifests"] = new[] { artifact.Manifest.Descriptor(artifactType: "application/vnd.example.sig") },
        }), MediaTypes.OciIndex);
        var tag = $"sha256-{image.Manifest.Digest.Hex}";

        Assert.Equal(HttpStatusCode.Created, (await _client.PutManifestAsync("manifests/fallback", tag, fallback)).StatusCode);

        Assert.Equal(fallback.Bytes, await _client.GetByteArrayAsync($"/v2/manifests/fallback/manifests/{tag}"));
    }

    [Fact]
    public async Task Sha512_digests_are_accepted_for_blobs_and_manifests()
    {
        var data = TestContent.Bytes("sha512", 50_000);
        var digest = Digest.Compute(data, Digest.Sha512);
        var post = await _client.PostAsync($"/v2/manifests/sha512/blobs/uploads/?digest={digest}", new ByteArrayContent(data));
        Assert.Equal(HttpStatusCode.Created, post.StatusCode);
        Assert.Equal(data, await _client.GetByteArrayAsync($"/v2/manifests/sha512/blobs/{digest}"));

        var chunked = TestContent.Bytes("sha512-chunked", 30_000);
        var chunkedDigest = Digest.Compute(chunked, Digest.Sha512);
        var location = await RegistryHttp.StartUploadAsync(_client, "manifests/sha512");
        await RegistryHttp.PatchUploadAsync(_client, location, chunked, 0);
        Assert.Equal(HttpStatusCode.Created, (await _client.PutAsync($"{location}?digest={chunkedDigest}", null)).StatusCode);

        var image = TestContent.Image("sha512-manifest");
        foreach (var blob in image.Blobs)
        {
            await _client.PushBlobAsync("manifests/sha512", blob);
        }

        var manifestDigest = Digest.Compute(image.Manifest.Bytes, Digest.Sha512);
        var put = await _client.PutManifestAsync("manifests/sha512", manifestDigest.ToString(), image.Manifest);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(manifestDigest.ToString(), Assert.Single(put.Headers.GetValues("Docker-Content-Digest")));
        Assert.Equal(image.Manifest.Bytes, await _client.GetByteArrayAsync($"/v2/manifests/sha512/manifests/{manifestDigest}"));
    }

    private const int RegistryStoreLimit = ConnectedRegistry.Storage.RegistryStore.MaxManifestBytes;
}
