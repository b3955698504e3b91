using System.Net;
using System.Text.Json.Nodes;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using static ConnectedRegistry.IntegrationTests.Infrastructure.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

/// <summary>
/// Behind the stock IoT Edge API proxy (real nginx, no <c>X-Forwarded-For</c>) every client shares the proxy's
/// address, so failed attempts at a known name must slow the guesser without locking out the name's owner: a
/// correct password is always checked.
/// </summary>
public class NamedLockoutTests
{
    private const string OwnerPassword = "ro-password-1";
    private const string ChildPassword = "cell-sync-password-1";

    private static RegistrySettings Settings() => With(
        tokens: new() { ["ro"] = Token(OwnerPassword, new() { ["factory/*"] = [RegistryActions.ContentRead, RegistryActions.MetadataRead] }) },
        children: new()
        {
            ["cell-1"] = new ChildRegistrySettings { Mode = RegistryMode.ReadOnly, SyncTokenPasswordHash = PasswordHasher.Hash(ChildPassword), Repositories = ["factory/*"] },
        });

    private static async Task<HttpResponseMessage> ApiAsync(HttpClient client, string user, string password)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/");
        request.Headers.Authorization = AuthTestRegistry.Basic(user, password);
        return await client.SendAsync(request);
    }

    private static async Task<HttpResponseMessage> TokenAsync(HttpClient client, string user, string password)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/acr/oauth2/token?service=registry&scope=" + Uri.EscapeDataString("repository:factory/line:pull"));
        request.Headers.Authorization = AuthTestRegistry.Basic(user, password);
        return await client.SendAsync(request);
    }

    [Theory]
    [InlineData("ro", OwnerPassword)]
    [InlineData("cell-1", ChildPassword)]
    public async Task Twelve_bad_attempts_at_a_name_behind_the_api_proxy_leave_its_owner_logging_in_at_once(string name, string password)
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        await using var proxy = await ApiProxy.StartAsync(registry.Instance.HostPort);
        using var client = proxy.CreateClient();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 12; i++)
        {
            using var bad = await ApiAsync(client, name, "wrong-" + i);
            statuses.Add(bad.StatusCode);
        }

        // The guesser still meets the limit: past 10 failures its wrong guesses are answered 429.
        Assert.Equal(10, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.Equal(2, statuses.Count(s => s == HttpStatusCode.TooManyRequests));

        // The owner, behind the same proxy and so at the same address, is not refused: on /v2 and at the token endpoint.
        using var api = await ApiAsync(client, name, password);
        Assert.Equal(HttpStatusCode.OK, api.StatusCode);
        using var token = await TokenAsync(client, name, password);
        Assert.Equal(HttpStatusCode.OK, token.StatusCode);
        Assert.NotNull(JsonNode.Parse(await token.Content.ReadAsStringAsync())!["token"]);

        // And the guesser, right after the owner got in, is still refused.
        using var again = await ApiAsync(client, name, "wrong-again");
        Assert.Equal(HttpStatusCode.TooManyRequests, again.StatusCode);
        Assert.Equal("TOOMANYREQUESTS", await AuthTestRegistry.ErrorCodeAsync(again));
        Assert.All(proxy.Requests(), line => Assert.StartsWith("GET /", line, StringComparison.Ordinal));
    }
}
