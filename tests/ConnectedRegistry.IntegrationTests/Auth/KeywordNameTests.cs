using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using static ConnectedRegistry.IntegrationTests.Infrastructure.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

/// <summary>
/// A repository name whose component is a resource keyword (<c>a/blobs/b</c>, valid in the spec's name grammar):
/// access control, the endpoints and the metrics all read the one route parsed for the request, whose name runs
/// to the last keyword, so a token for <c>a/blobs/b</c> reads it and a token for <c>a</c> does not.
/// </summary>
public sealed class KeywordNameTests : IAsyncLifetime
{
    private const string Name = "a/blobs/b";
    private static readonly TestImage Image = TestContent.Image("keyword-name", layers: 1, layerSize: 128);
    private AuthTestRegistry _registry = null!;

    public async Task InitializeAsync() => _registry = await AuthTestRegistry.StartAsync(
        With(tokens: new()
        {
            ["nested-reader"] = Token("nested-pw", new() { [Name] = [RegistryActions.ContentRead, RegistryActions.MetadataRead] }),
            ["a-reader"] = Token("a-pw", new() { ["a"] = [RegistryActions.ContentRead, RegistryActions.MetadataRead] }),
        }),
        seed: client => client.PushImageAsync(Name, "latest", Image));

    public async Task DisposeAsync() => await _registry.DisposeAsync();

    [Theory]
    [InlineData("/v2/a/blobs/b/manifests/latest")]
    [InlineData("/v2/a/blobs/b/tags/list")]
    public async Task The_token_of_the_whole_name_reads_it(string path)
    {
        using var response = await _registry.SendAsync(HttpMethod.Get, path, AuthTestRegistry.Basic("nested-reader", "nested-pw"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        if (path.EndsWith("/tags/list", StringComparison.Ordinal))
        {
            Assert.Contains($"\"name\":\"{Name}\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_blob_of_the_whole_name_is_served_by_digest()
    {
        using var response = await _registry.SendAsync(HttpMethod.Get, $"/v2/{Name}/blobs/{Image.Config.Digest}", AuthTestRegistry.Basic("nested-reader", "nested-pw"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Image.Config.Bytes, await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task A_token_of_the_first_component_is_denied()
    {
        using var response = await _registry.SendAsync(HttpMethod.Get, "/v2/a/blobs/b/manifests/latest", AuthTestRegistry.Basic("a-reader", "a-pw"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("DENIED", await AuthTestRegistry.ErrorCodeAsync(response));
    }
}
