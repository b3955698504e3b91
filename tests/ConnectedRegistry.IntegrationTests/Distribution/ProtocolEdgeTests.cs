using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ConnectedRegistry.IntegrationTests.Infrastructure;

namespace ConnectedRegistry.IntegrationTests.Distribution;

/// <summary>Protocol corners a reviewer of the core found wrong; each test failed before its fix.</summary>
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
    public async Task A_path_resolved_outside_the_api_is_404_in_the_envelope(string target)
    {
        var response = await RawHttp.SendAsync(fixture.Registry.BaseAddress, $"GET {target} HTTP/1.1");

        Assert.NotNull(response);
        Assert.Equal(404, response.Status);
        Assert.Equal("NAME_UNKNOWN", response.ErrorCode);
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
}
