using System.Net;
using System.Net.Http.Headers;
using ConnectedRegistry.IntegrationTests.Infrastructure;

namespace ConnectedRegistry.IntegrationTests.Distribution;

public sealed class BlobApiTests(RegistryFixture fixture) : IClassFixture<RegistryFixture>
{
    private readonly HttpClient _client = fixture.Client;

    [Fact]
    public async Task Monolithic_post_with_digest_creates_the_blob()
    {
        var blob = new TestBlob(TestContent.Bytes("mono", 10_000), "application/octet-stream");
        var response = await _client.PostAsync($"/v2/blobs/mono/blobs/uploads/?digest={blob.Digest}", new ByteArrayContent(blob.Bytes));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal($"/v2/blobs/mono/blobs/{blob.Digest}", response.Headers.Location!.OriginalString);
        Assert.Equal(blob.Digest.ToString(), Assert.Single(response.Headers.GetValues("Docker-Content-Digest")));
        Assert.Equal(blob.Bytes, await _client.GetByteArrayAsync($"/v2/blobs/mono/blobs/{blob.Digest}"));
    }

    [Fact]
    public async Task Monolithic_post_with_wrong_digest_is_digest_invalid_and_stores_nothing()
    {
        var wrong = new TestBlob(TestContent.Bytes("other", 10), "x").Digest;
        var response = await _client.PostAsync($"/v2/blobs/wrong/blobs/uploads/?digest={wrong}", new ByteArrayContent(TestContent.Bytes("mono-wrong", 100)));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("DIGEST_INVALID", await response.ErrorCodeAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await _client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/blobs/wrong/blobs/{wrong}"))).StatusCode);
    }

    [Fact]
    public async Task Head_reports_length_and_digest_without_body()
    {
        var blob = new TestBlob(TestContent.Bytes("head", 777), "application/octet-stream");
        await _client.PushBlobAsync("blobs/head", blob);

        var response = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/blobs/head/blobs/{blob.Digest}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(777, response.Content.Headers.ContentLength);
        Assert.Equal(blob.Digest.ToString(), Assert.Single(response.Headers.GetValues("Docker-Content-Digest")));
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Range_request_returns_206_with_the_slice()
    {
        var blob = new TestBlob(TestContent.Bytes("range", 5000), "application/octet-stream");
        await _client.PushBlobAsync("blobs/range", blob);

        var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/blobs/range/blobs/{blob.Digest}");
        request.Headers.Range = new RangeHeaderValue(100, 199);
        var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(blob.Bytes[100..200], await response.Content.ReadAsByteArrayAsync());
        Assert.Equal("bytes 100-199/5000", response.Content.Headers.ContentRange!.ToString());

        var open = new HttpRequestMessage(HttpMethod.Get, $"/v2/blobs/range/blobs/{blob.Digest}");
        open.Headers.Range = new RangeHeaderValue(4990, null);
        Assert.Equal(blob.Bytes[4990..], await (await _client.SendAsync(open)).Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Range_past_the_end_is_416_range_invalid()
    {
        var blob = new TestBlob(TestContent.Bytes("range416", 100), "application/octet-stream");
        await _client.PushBlobAsync("blobs/range416", blob);

        var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/blobs/range416/blobs/{blob.Digest}");
        request.Headers.Range = new RangeHeaderValue(100, null);
        var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, response.StatusCode);
        Assert.Equal("RANGE_INVALID", await response.ErrorCodeAsync());
        Assert.Equal("bytes */100", response.Content.Headers.ContentRange!.ToString());
    }

    [Fact]
    public async Task Unknown_blob_is_404_blob_unknown_and_bad_digest_is_400()
    {
        var unknown = new TestBlob(TestContent.Bytes("never-pushed", 10), "x").Digest;
        var response = await _client.GetAsync($"/v2/blobs/unknown/blobs/{unknown}");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("BLOB_UNKNOWN", await response.ErrorCodeAsync());

        foreach (var bad in new[] { "sha256:abc", "sha256:" + new string('A', 64), "md5:d41d8cd98f00b204e9800998ecf8427e", "nodigest" })
        {
            var invalid = await _client.GetAsync($"/v2/blobs/unknown/blobs/{bad}");
            Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
            Assert.Equal("DIGEST_INVALID", await invalid.ErrorCodeAsync());
        }
    }

    [Fact]
    public async Task Blob_is_only_visible_in_the_repository_it_was_pushed_to()
    {
        var blob = new TestBlob(TestContent.Bytes("isolated", 64), "application/octet-stream");
        await _client.PushBlobAsync("blobs/owner", blob);

        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"/v2/blobs/stranger/blobs/{blob.Digest}")).StatusCode);
    }

    [Fact]
    public async Task Delete_removes_the_blob_from_the_repository()
    {
        var blob = new TestBlob(TestContent.Bytes("delete", 64), "application/octet-stream");
        await _client.PushBlobAsync("blobs/delete", blob);

        var deleted = await _client.DeleteAsync($"/v2/blobs/delete/blobs/{blob.Digest}");
        Assert.Equal(HttpStatusCode.Accepted, deleted.StatusCode);
        var after = await _client.GetAsync($"/v2/blobs/delete/blobs/{blob.Digest}");
        Assert.Equal(HttpStatusCode.NotFound, after.StatusCode);
        Assert.Equal("BLOB_UNKNOWN", await after.ErrorCodeAsync());
        var again = await _client.DeleteAsync($"/v2/blobs/delete/blobs/{blob.Digest}");
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Equal("BLOB_UNKNOWN", await again.ErrorCodeAsync());
    }

    [Fact]
    public async Task Cross_repository_mount_links_an_existing_blob_with_201()
    {
        var blob = new TestBlob(TestContent.Bytes("mount", 2048), "application/octet-stream");
        await _client.PushBlobAsync("mount/source", blob);

        var response = await _client.PostAsync($"/v2/mount/target/blobs/uploads/?mount={blob.Digest}&from=mount/source", null);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal($"/v2/mount/target/blobs/{blob.Digest}", response.Headers.Location!.OriginalString);
        Assert.Equal(blob.Digest.ToString(), Assert.Single(response.Headers.GetValues("Docker-Content-Digest")));
        Assert.Equal(blob.Bytes, await _client.GetByteArrayAsync($"/v2/mount/target/blobs/{blob.Digest}"));
    }

    [Theory]
    [InlineData("&from=mount/empty-source")]
    [InlineData("&from=Not/A/Valid/Name")]
    [InlineData("")]
    public async Task Mount_that_cannot_be_done_falls_back_to_an_upload_session(string from)
    {
        var blob = new TestBlob(TestContent.Bytes("mount-fallback", 128), "application/octet-stream");
        await _client.PushBlobAsync("mount/elsewhere", blob);

        var response = await _client.PostAsync($"/v2/mount/fallback/blobs/uploads/?mount={blob.Digest}{from}", null);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.StartsWith("/v2/mount/fallback/blobs/uploads/", response.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"/v2/mount/fallback/blobs/{blob.Digest}")).StatusCode);
    }

    [Fact]
    public async Task Identical_blobs_in_two_repositories_are_stored_once()
    {
        var blob = new TestBlob(TestContent.Bytes("dedup", 4096), "application/octet-stream");
        await _client.PushBlobAsync("dedup/one", blob);
        await _client.PushBlobAsync("dedup/two", blob);

        var files = Directory.GetFiles(Path.Combine(fixture.Registry.DataRoot, "blobs"), blob.Digest.Hex, SearchOption.AllDirectories);
        Assert.Single(files);
        Assert.Equal(blob.Bytes, await _client.GetByteArrayAsync($"/v2/dedup/two/blobs/{blob.Digest}"));
    }
}
