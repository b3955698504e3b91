using System.Net;
using System.Net.Http.Headers;
using ConnectedRegistry.IntegrationTests.Infrastructure;

namespace ConnectedRegistry.IntegrationTests.Distribution;

public sealed class BlobUploadApiTests(RegistryFixture fixture) : IClassFixture<RegistryFixture>
{
    private readonly HttpClient _client = fixture.Client;

    [Fact]
    public async Task Post_opens_a_session_with_location_range_and_chunk_min_length()
    {
        var response = await _client.PostAsync("/v2/upload/open/blobs/uploads/", null);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Matches("^/v2/upload/open/blobs/uploads/[0-9a-f]{32}$", response.Headers.Location!.OriginalString);
        Assert.Equal("0-0", Assert.Single(response.Headers.GetValues("Range")));
        Assert.True(long.Parse(Assert.Single(response.Headers.GetValues("OCI-Chunk-Min-Length"))) >= 0);
    }

    [Fact]
    public async Task Chunked_upload_with_content_range_then_put_creates_the_blob()
    {
        var data = TestContent.Bytes("chunked", 300_000);
        var digest = new TestBlob(data, "x").Digest;
        var location = await RegistryHttp.StartUploadAsync(_client, "upload/chunked");

        var first = await RegistryHttp.PatchUploadAsync(_client, location, data[..100_000], 0);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal("0-99999", Assert.Single(first.Headers.GetValues("Range")));
        location = first.Headers.Location!.OriginalString;
        var second = await RegistryHttp.PatchUploadAsync(_client, location, data[100_000..250_000], 100_000);
        Assert.Equal("0-249999", Assert.Single(second.Headers.GetValues("Range")));

        var last = new ByteArrayContent(data[250_000..]);
        last.Headers.TryAddWithoutValidation("Content-Range", "250000-299999");
        var put = await _client.PutAsync($"{location}?digest={digest}", last);

        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal($"/v2/upload/chunked/blobs/{digest}", put.Headers.Location!.OriginalString);
        Assert.Equal(data, await _client.GetByteArrayAsync($"/v2/upload/chunked/blobs/{digest}"));
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync(location)).StatusCode);
    }

    [Fact]
    public async Task Streamed_patch_without_content_range_then_empty_put()
    {
        var data = TestContent.Bytes("streamed", 70_000);
        var digest = new TestBlob(data, "x").Digest;
        var location = await RegistryHttp.StartUploadAsync(_client, "upload/streamed");

        var patch = await RegistryHttp.PatchUploadAsync(_client, location, data, null);
        Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
        var put = await _client.PutAsync($"{location}?digest={digest}", null);

        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(data, await _client.GetByteArrayAsync($"/v2/upload/streamed/blobs/{digest}"));
    }

    [Fact]
    public async Task Out_of_order_chunk_is_416_and_session_keeps_its_bytes()
    {
        var data = TestContent.Bytes("order", 2000);
        var location = await RegistryHttp.StartUploadAsync(_client, "upload/order");
        await RegistryHttp.PatchUploadAsync(_client, location, data[..1000], 0);

        var skipped = await RegistryHttp.PatchUploadAsync(_client, location, data[1500..], 1500);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, skipped.StatusCode);
        Assert.Equal("RANGE_INVALID", await skipped.ErrorCodeAsync());
        Assert.Equal("0-999", Assert.Single(skipped.Headers.GetValues("Range")));

        var retried = await RegistryHttp.PatchUploadAsync(_client, location, data[..1000], 0);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, retried.StatusCode);

        var status = await _client.GetAsync(location);
        Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
        Assert.Equal("0-999", Assert.Single(status.Headers.GetValues("Range")));
        Assert.Equal(location, status.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task Out_of_order_chunk_says_where_the_session_stands_as_a_202_would()
    {
        // Storage refuses the chunk in its own terms; the HTTP edge adds the session's headers to the 416.
        var data = TestContent.Bytes("order-headers", 2000);
        var location = await RegistryHttp.StartUploadAsync(_client, "upload/order-headers");
        var accepted = await RegistryHttp.PatchUploadAsync(_client, location, data[..1000], 0);

        var skipped = await RegistryHttp.PatchUploadAsync(_client, location, data[1500..], 1500);

        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, skipped.StatusCode);
        Assert.Equal(location, skipped.Headers.Location!.OriginalString);
        Assert.Equal(accepted.Headers.GetValues("Docker-Upload-UUID"), skipped.Headers.GetValues("Docker-Upload-UUID"));
        Assert.Equal(accepted.Headers.GetValues("Range"), skipped.Headers.GetValues("Range"));
    }

    [Fact]
    public async Task Content_length_that_disagrees_with_content_range_is_size_invalid()
    {
        var location = await RegistryHttp.StartUploadAsync(_client, "upload/size");
        var request = new HttpRequestMessage(HttpMethod.Patch, location) { Content = new ByteArrayContent(new byte[10]) };
        request.Content.Headers.TryAddWithoutValidation("Content-Range", "0-19");

        var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("SIZE_INVALID", await response.ErrorCodeAsync());
    }

    [Fact]
    public async Task Malformed_content_range_is_416()
    {
        var location = await RegistryHttp.StartUploadAsync(_client, "upload/badrange");
        var request = new HttpRequestMessage(HttpMethod.Patch, location) { Content = new ByteArrayContent(new byte[10]) };
        request.Content.Headers.TryAddWithoutValidation("Content-Range", "9-0");

        var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, response.StatusCode);
        Assert.Equal("RANGE_INVALID", await response.ErrorCodeAsync());
    }

    [Fact]
    public async Task Put_with_mismatching_digest_is_digest_invalid()
    {
        var location = await RegistryHttp.StartUploadAsync(_client, "upload/mismatch");
        await RegistryHttp.PatchUploadAsync(_client, location, TestContent.Bytes("mismatch", 100), 0);
        var wrong = new TestBlob(TestContent.Bytes("not-it", 100), "x").Digest;

        var response = await _client.PutAsync($"{location}?digest={wrong}", null);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("DIGEST_INVALID", await response.ErrorCodeAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"/v2/upload/mismatch/blobs/{wrong}")).StatusCode);
    }

    [Theory]
    [InlineData("")]
    [InlineData("?digest=sha256:1234")]
    public async Task Put_without_a_valid_digest_is_digest_invalid(string query)
    {
        var location = await RegistryHttp.StartUploadAsync(_client, "upload/nodigest");

        var response = await _client.PutAsync(location + query, null);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("DIGEST_INVALID", await response.ErrorCodeAsync());
    }

    [Fact]
    public async Task Delete_cancels_the_session()
    {
        var location = await RegistryHttp.StartUploadAsync(_client, "upload/cancel");
        await RegistryHttp.PatchUploadAsync(_client, location, new byte[100], 0);

        Assert.Equal(HttpStatusCode.NoContent, (await _client.DeleteAsync(location)).StatusCode);
        var after = await RegistryHttp.PatchUploadAsync(_client, location, new byte[1], null);
        Assert.Equal(HttpStatusCode.NotFound, after.StatusCode);
        Assert.Equal("BLOB_UPLOAD_UNKNOWN", await after.ErrorCodeAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await _client.DeleteAsync(location)).StatusCode);
    }

    [Theory]
    [InlineData("/v2/upload/unknown/blobs/uploads/0123456789abcdef0123456789abcdef")]
    [InlineData("/v2/upload/unknown/blobs/uploads/..%2F..%2Fetc")]
    [InlineData("/v2/upload/unknown/blobs/uploads/not-a-session")]
    public async Task Unknown_session_is_404_blob_upload_unknown(string location)
    {
        var response = await _client.GetAsync(location);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("BLOB_UPLOAD_UNKNOWN", await response.ErrorCodeAsync());
    }

    [Fact]
    public async Task Session_cannot_be_used_through_another_repository()
    {
        var location = await RegistryHttp.StartUploadAsync(_client, "upload/mine");
        var foreign = location.Replace("/upload/mine/", "/upload/theirs/", StringComparison.Ordinal);

        var response = await RegistryHttp.PatchUploadAsync(_client, foreign, new byte[10], null);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("BLOB_UPLOAD_UNKNOWN", await response.ErrorCodeAsync());
    }

    [Fact]
    public async Task Concurrent_chunks_to_one_session_never_interleave()
    {
        var location = await RegistryHttp.StartUploadAsync(_client, "upload/concurrent");
        var chunk = TestContent.Bytes("concurrent", 50_000);
        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => RegistryHttp.PatchUploadAsync(_client, location, chunk, 0)));

        Assert.Single(results, r => r.StatusCode == HttpStatusCode.Accepted);
        Assert.Equal(3, results.Count(r => r.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable));
        var status = await _client.GetAsync(location);
        Assert.Equal("0-49999", Assert.Single(status.Headers.GetValues("Range")));
    }
}
