using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ConnectedRegistry.IntegrationTests.Infrastructure;

namespace ConnectedRegistry.IntegrationTests.Distribution;

/// <summary>
/// Protocol corners from a review against the spec and its conformance suite: the first four were wrong and each
/// test failed before its fix; the rest pin conformance points that were already right.
/// </summary>
public sealed class ProtocolEdgeTests(RegistryFixture fixture) : IClassFixture<RegistryFixture>
{
    private readonly HttpClient _client = fixture.Client;

    [Fact]
    public async Task Range_in_a_unit_other_than_bytes_is_ignored_and_the_whole_blob_is_sent()
    {
        var blob = new TestBlob(TestContent.Bytes("edge-items", 300), "application/octet-stream");
        await _client.PushBlobAsync("edge/items", blob);

        var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/edge/items/blobs/{blob.Digest}");
        request.Headers.TryAddWithoutValidation("Range", "items=0-1");
        var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(response.Content.Headers.ContentRange);
        Assert.Equal(blob.Bytes, await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("OPTIONS", "/v2/edge/any/tags/list")]
    [InlineData("FROB", "/v2/edge/any/manifests/latest")]
    [InlineData("OPTIONS", "/v2/")]
    public async Task A_method_the_api_does_not_know_is_405_unsupported_in_the_envelope(string method, string path)
    {
        var response = await RawHttp.SendAsync(fixture.Registry.BaseAddress, $"{method} {path} HTTP/1.1");

        Assert.NotNull(response);
        Assert.Equal(405, response.Status);
        Assert.Equal("UNSUPPORTED", response.ErrorCode);
    }

    [Theory]
    [InlineData("/v2/%2e%2e/x/tags/list")]
    [InlineData("/v2/a/%2E%2E/%2e%2e/%2e%2e/etc/manifests/latest")]
    [InlineData("/nothing/here")]
    [InlineData("/favicon.ico")]
    public async Task A_path_resolved_outside_the_api_is_404_in_the_envelope(string target)
    {
        var response = await RawHttp.SendAsync(fixture.Registry.BaseAddress, $"GET {target} HTTP/1.1");

        Assert.NotNull(response);
        Assert.Equal(404, response.Status);
        Assert.Equal("NAME_UNKNOWN", response.ErrorCode);
    }

    [Fact]
    public async Task A_path_outside_the_api_that_exists_for_another_method_keeps_its_405()
    {
        var response = await RawHttp.SendAsync(fixture.Registry.BaseAddress, "PUT /oauth2/token HTTP/1.1\r\nContent-Length: 0");

        Assert.NotNull(response);
        Assert.Equal(405, response.Status);
    }

    [Theory]
    [InlineData("application/vnd.docker.distribution.manifest.v1+prettyjws")]
    [InlineData("application/vnd.docker.distribution.manifest.v1+json")]
    [InlineData("application/json")]
    [InlineData(null)]
    public async Task A_docker_schema1_manifest_is_refused_with_a_message_that_says_so(string? contentType)
    {
        const string Schema1 = """{"schemaVersion":1,"name":"edge/s1","tag":"v1","architecture":"amd64","fsLayers":[],"history":[],"signatures":[]}""";
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(Schema1));
        if (contentType is not null)
        {
            content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        }

        var response = await _client.PutAsync("/v2/edge/s1/manifests/v1", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal("MANIFEST_INVALID", await response.ErrorCodeAsync());
        Assert.Contains("schema 1", body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync("/v2/edge/s1/manifests/v1")).StatusCode);
    }

    [Fact]
    public async Task The_empty_blob_is_pushed_without_a_body_and_pulled_with_length_zero()
    {
        var empty = new TestBlob([], "application/octet-stream");
        var monolithic = await _client.PostAsync($"/v2/edge/empty/blobs/uploads/?digest={empty.Digest}", null);
        Assert.Equal(HttpStatusCode.Created, monolithic.StatusCode);

        var session = (await _client.PostAsync("/v2/edge/empty2/blobs/uploads/", null)).Headers.Location!.OriginalString;
        Assert.Equal(HttpStatusCode.Accepted, (await _client.PatchAsync(session, new ByteArrayContent([]))).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await _client.PutAsync($"{session}?digest={empty.Digest}", null)).StatusCode);

        var head = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/edge/empty2/blobs/{empty.Digest}"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(0, head.Content.Headers.ContentLength);
        Assert.Empty(await _client.GetByteArrayAsync($"/v2/edge/empty/blobs/{empty.Digest}"));
    }

    [Fact]
    public async Task Head_of_a_manifest_carries_the_headers_of_get_and_no_body()
    {
        var image = TestContent.Image("edge-head");
        await _client.PushImageAsync("edge/head", "v1", image);

        var get = await _client.GetAsync("/v2/edge/head/manifests/v1");
        var head = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/v2/edge/head/manifests/v1"));

        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        Assert.Equal(get.Content.Headers.ContentType, head.Content.Headers.ContentType);
        Assert.Equal(get.Content.Headers.ContentLength, head.Content.Headers.ContentLength);
        Assert.Equal(image.Manifest.Size, head.Content.Headers.ContentLength);
        Assert.Equal(get.Headers.GetValues("Docker-Content-Digest"), head.Headers.GetValues("Docker-Content-Digest"));
        Assert.Equal(get.Headers.ETag, head.Headers.ETag);
    }

    [Fact]
    public async Task A_tag_query_parameter_on_manifest_put_is_not_a_tag()
    {
        var image = TestContent.Image("edge-tagquery");
        foreach (var blob in image.Blobs)
        {
            await _client.PushBlobAsync("edge/tagquery", blob);
        }

        using var content = new ByteArrayContent(image.Manifest.Bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(image.Manifest.MediaType);
        var response = await _client.PutAsync($"/v2/edge/tagquery/manifests/{image.Manifest.Digest}?tag=extra", content);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync("/v2/edge/tagquery/manifests/extra")).StatusCode);
        Assert.Equal("""{"name":"edge/tagquery","tags":[]}""", await _client.GetStringAsync("/v2/edge/tagquery/tags/list"));
    }
}
