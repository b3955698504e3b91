using System.Net.Sockets;
using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using static ConnectedRegistry.IntegrationTests.Infrastructure.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

/// <summary>
/// Spellings of a protected path sent byte for byte (no client-side normalisation): none may reach
/// the content without credentials.
/// </summary>
public sealed class PathVariantTests : IAsyncLifetime
{
    private static readonly TestImage Image = TestContent.Image("path-variants", layers: 1, layerSize: 128);
    private AuthTestRegistry _registry = null!;

    public async Task InitializeAsync() => _registry = await AuthTestRegistry.StartAsync(
        With(tokens: new() { ["app-reader"] = Token("reader-pw", new() { ["app"] = [RegistryActions.ContentRead, RegistryActions.MetadataRead] }) }),
        seed: client => client.PushImageAsync("app", "latest", Image));

    public async Task DisposeAsync() => await _registry.DisposeAsync();

    [Theory]
    [InlineData("/v2/app/manifests/latest")]
    [InlineData("/V2/app/manifests/latest")]
    [InlineData("/v2/app/MANIFESTS/latest")]
    [InlineData("//v2/app/manifests/latest")]
    [InlineData("/v2//app/manifests/latest")]
    [InlineData("/v2/./app/manifests/latest")]
    [InlineData("/x/../v2/app/manifests/latest")]
    [InlineData("/%76%32/app/manifests/latest")]
    [InlineData("/v2/app%2Fmanifests/latest")]
    [InlineData("/v2/app/manifests/latest/")]
    [InlineData("/v2/app/tags/list")]
    [InlineData("/v2/app/tags/list/")]
    [InlineData("/v2/_catalog/")]
    [InlineData("/V2/_catalog")]
    public async Task No_spelling_reaches_protected_content_without_credentials(string rawPath)
    {
        var status = await RawGetStatusAsync(rawPath);
        Assert.True(status is 401 or 404 or 400, $"{rawPath} answered {status}");
    }

    [Fact]
    public async Task The_plain_spelling_is_served_with_credentials()
    {
        using var response = await _registry.SendAsync(HttpMethod.Get, "/v2/app/manifests/latest", AuthTestRegistry.Basic("app-reader", "reader-pw"));
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(401, await RawGetStatusAsync("/v2/app/manifests/latest"));
    }

    private async Task<int> RawGetStatusAsync(string rawPath)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(_registry.Instance.BaseAddress.Host, _registry.Instance.BaseAddress.Port);
        await using var stream = tcp.GetStream();
        var request = $"GET {rawPath} HTTP/1.1\r\nHost: {_registry.Instance.HostPort}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var statusLine = await reader.ReadLineAsync() ?? "";
        var parts = statusLine.Split(' ');
        return parts.Length > 1 && int.TryParse(parts[1], out var code) ? code : -1;
    }
}
