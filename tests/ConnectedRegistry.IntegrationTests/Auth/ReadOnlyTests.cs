using System.Net;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Hosting;
using static ConnectedRegistry.IntegrationTests.Auth.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

public class ReadOnlyTests
{
    private const string D = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

    public static TheoryData<string, string> Writes => new()
    {
        { "PUT", "/v2/app/manifests/latest" },
        { "DELETE", "/v2/app/manifests/" + D },
        { "DELETE", "/v2/app/manifests/latest" },
        { "DELETE", "/v2/app/blobs/" + D },
        { "POST", "/v2/app/blobs/uploads/" },
        { "POST", $"/v2/app/blobs/uploads/?mount={D}&from=base" },
        { "PATCH", "/v2/app/blobs/uploads/5f1e" },
        { "PUT", "/v2/app/blobs/uploads/5f1e?digest=" + D },
        { "DELETE", "/v2/app/blobs/uploads/5f1e" },
    };

    public static TheoryData<string, string> Reads => new()
    {
        { "GET", "/v2/app/manifests/latest" },
        { "HEAD", "/v2/app/manifests/latest" },
        { "GET", "/v2/app/blobs/" + D },
        { "HEAD", "/v2/app/blobs/" + D },
        { "GET", "/v2/app/tags/list" },
        { "GET", "/v2/app/referrers/" + D },
    };

    [Theory]
    [MemberData(nameof(Writes))]
    public async Task Every_client_write_is_refused_with_405_unsupported_even_with_auth_off(string method, string path)
    {
        await using var registry = await AuthTestRegistry.StartAsync(With(mode: RegistryMode.ReadOnly));
        using var response = await registry.SendAsync(new HttpMethod(method), path);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal("UNSUPPORTED", await AuthTestRegistry.ErrorCodeAsync(response));
        Assert.Contains("ReadOnly", body, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Writes))]
    public async Task Every_client_write_is_refused_for_a_token_that_may_write(string method, string path)
    {
        await using var registry = await AuthTestRegistry.StartAsync(With(
            tokens: new() { ["all-powerful"] = Token("pw-all", new() { ["*"] = [.. RegistryActions.All] }) },
            mode: RegistryMode.ReadOnly));
        using var response = await registry.SendAsync(new HttpMethod(method), path, AuthTestRegistry.Basic("all-powerful", "pw-all"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("UNSUPPORTED", await AuthTestRegistry.ErrorCodeAsync(response));

        // Unauthenticated writers are told to authenticate first.
        using var anonymous = await registry.SendAsync(new HttpMethod(method), path);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    [Theory]
    [MemberData(nameof(Reads))]
    public async Task Every_read_is_allowed(string method, string path)
    {
        await using var registry = await AuthTestRegistry.StartAsync(With(
            tokens: new() { ["all-powerful"] = Token("pw-all", new() { ["*"] = [.. RegistryActions.All] }) },
            mode: RegistryMode.ReadOnly));
        using var response = await registry.SendAsync(new HttpMethod(method), path, AuthTestRegistry.Basic("all-powerful", "pw-all"));
        Assert.Equal(AuthTestRegistry.Reached, (int)response.StatusCode);
    }

    [Fact]
    public async Task Switching_to_ReadWrite_lifts_the_refusal()
    {
        await using var registry = await AuthTestRegistry.StartAsync(With(mode: RegistryMode.ReadOnly));
        using (var refused = await registry.SendAsync(HttpMethod.Post, "/v2/app/blobs/uploads/"))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, refused.StatusCode);
        }

        registry.Apply(With(mode: RegistryMode.ReadWrite));
        using var allowed = await registry.SendAsync(HttpMethod.Post, "/v2/app/blobs/uploads/");
        Assert.Equal(AuthTestRegistry.Reached, (int)allowed.StatusCode);
    }
}
