using System.Net;
using ConnectedRegistry.IntegrationTests.Infrastructure;

namespace ConnectedRegistry.IntegrationTests.Distribution;

public sealed class RouteAndNameTests(RegistryFixture fixture) : IClassFixture<RegistryFixture>
{
    private readonly HttpClient _client = fixture.Client;

    [Theory]
    [InlineData("/v2/..%2Fx/manifests/latest")]
    [InlineData("/v2/Upper/manifests/latest")]
    [InlineData("/v2/a//b/tags/list")]
    [InlineData("/v2//manifests/latest")]
    [InlineData("/v2/-lead/blobs/uploads/")]
    [InlineData("/v2/a%2Fb/tags/list")]
    [InlineData("/v2/trailing./tags/list")]
    public async Task Invalid_names_are_400_name_invalid(string path)
    {
        var method = path.EndsWith("/uploads/", StringComparison.Ordinal) ? HttpMethod.Post : HttpMethod.Get;

        var response = await _client.SendAsync(new HttpRequestMessage(method, path));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("NAME_INVALID", await response.ErrorCodeAsync());
    }

    [Fact]
    public async Task Name_longer_than_255_is_name_invalid()
    {
        var response = await _client.GetAsync($"/v2/{new string('a', 256)}/tags/list");
        Assert.Equal("NAME_INVALID", await response.ErrorCodeAsync());
    }

    [Fact]
    public async Task Deeply_nested_names_work()
    {
        var image = TestContent.Image("nested");
        await _client.PushImageAsync("a/b/c/d/e", "v1", image);

        Assert.Equal(image.Manifest.Bytes, await _client.GetByteArrayAsync("/v2/a/b/c/d/e/manifests/v1"));
    }

    [Theory]
    [InlineData("POST", "/v2/routes/x/manifests/v1")]
    [InlineData("PATCH", "/v2/routes/x/tags/list")]
    [InlineData("PUT", "/v2/_catalog")]
    [InlineData("POST", "/v2/routes/x/blobs/sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    public async Task Wrong_method_is_405_unsupported(string method, string path)
    {
        var response = await _client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("UNSUPPORTED", await response.ErrorCodeAsync());
    }

    [Theory]
    [InlineData("PUT", "/oauth2/token", "GET, POST")]
    [InlineData("DELETE", "/oauth2/token", "GET, POST")]
    [InlineData("GET", "/connected-registry/v1/activate", "POST")]
    [InlineData("PUT", "/connected-registry/v1/changes", "GET")]
    [InlineData("PUT", "/acr/oauth2/token", "GET, POST")]
    [InlineData("GET", "/acr/connected-registry/v1/deactivate", "POST")]
    [InlineData("PUT", "/acr/connected-registry/v1/changes", "GET")]
    public async Task Wrong_method_outside_v2_is_405_unsupported_in_the_envelope_with_allow(string method, string path, string allow)
    {
        using var response = await _client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("UNSUPPORTED", await response.ErrorCodeAsync());
        Assert.Equal(allow, string.Join(", ", response.Content.Headers.Allow));
    }

    [Fact]
    public async Task Unknown_api_path_is_an_envelope_not_a_bare_404()
    {
        var response = await _client.GetAsync("/v2/some/thing/else");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("NAME_UNKNOWN", await response.ErrorCodeAsync());
    }

    [Theory]
    [InlineData("/v2/routes/x/manifests/sha256:xyz", "DIGEST_INVALID", HttpStatusCode.BadRequest)]
    [InlineData("/v2/routes/x/manifests/-bad-tag", "MANIFEST_UNKNOWN", HttpStatusCode.NotFound)]
    public async Task Bad_references_are_rejected(string path, string code, HttpStatusCode status)
    {
        var response = await _client.GetAsync(path);

        Assert.Equal(status, response.StatusCode);
        Assert.Equal(code, await response.ErrorCodeAsync());
    }

    [Fact]
    public async Task Every_response_carries_the_api_version_header()
    {
        foreach (var path in new[] { "/v2/", "/v2", "/v2/_catalog", "/v2/Bad/tags/list" })
        {
            var response = await _client.GetAsync(path);
            Assert.Equal("registry/2.0", Assert.Single(response.Headers.GetValues("Docker-Distribution-API-Version")));
        }
    }
}
