using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using Microsoft.Extensions.Time.Testing;
using static ConnectedRegistry.IntegrationTests.Infrastructure.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

public class TokenEndpointTests
{
    private const string Password = "puller-password-1";

    private static RegistrySettings Settings(bool enabled = true, DateTimeOffset? expiry = null, bool anonymousPull = false) => With(
        tokens: new()
        {
            ["line-puller"] = Token(Password, new() { ["factory/*"] = [RegistryActions.ContentRead, RegistryActions.MetadataRead] }, enabled, expiry),
        },
        anonymousPull: anonymousPull);

    private static async Task<JsonObject> JsonAsync(HttpResponseMessage response) => JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

    [Fact]
    public async Task Get_with_basic_credentials_returns_a_short_lived_token_that_opens_the_granted_repository()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        using var response = await registry.GetTokenAsync("line-puller", Password, "repository:factory/line:pull,push");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await JsonAsync(response);
        Assert.Equal((string?)body["token"], (string?)body["access_token"]);
        Assert.Equal(300, (int)body["expires_in"]!);
        Assert.True(DateTimeOffset.TryParse((string?)body["issued_at"], System.Globalization.CultureInfo.InvariantCulture, out _));
        Assert.Null(body["refresh_token"]);

        var bearer = new AuthenticationHeaderValue("Bearer", (string)body["token"]!);
        using var pull = await registry.SendAsync(HttpMethod.Get, "/v2/factory/line/manifests/latest", bearer);
        Assert.Equal(HttpStatusCode.NotFound, pull.StatusCode); // passed access control; nothing pushed yet

        // push was asked but not granted: the identity cannot push, so 403, not a new challenge.
        using var push = await registry.SendAsync(HttpMethod.Post, "/v2/factory/line/blobs/uploads/", bearer);
        Assert.Equal(HttpStatusCode.Forbidden, push.StatusCode);
        Assert.Equal("DENIED", await AuthTestRegistry.ErrorCodeAsync(push));
    }

    [Fact]
    public async Task Token_covers_only_the_scopes_requested_and_a_wider_request_is_challenged_for_a_new_token()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        var token = await registry.AccessTokenAsync("line-puller", Password, "repository:factory/line:pull");
        using var other = await registry.SendAsync(HttpMethod.Get, "/v2/factory/other/manifests/latest", new("Bearer", token));
        Assert.Equal(HttpStatusCode.Unauthorized, other.StatusCode);
        var challenge = other.Headers.WwwAuthenticate.ToString();
        Assert.Contains("error=\"insufficient_scope\"", challenge, StringComparison.Ordinal);
        Assert.Contains("scope=\"repository:factory/other:pull\"", challenge, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("line-puller", "not-it-7731")]
    [InlineData("nobody-here", Password)]
    [InlineData("line-puller", "")]
    public async Task Bad_credentials_get_401_unauthorized(string user, string password)
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        using var response = await registry.GetTokenAsync(user, password, "repository:factory/line:pull");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("UNAUTHORIZED", await AuthTestRegistry.ErrorCodeAsync(response));
        Assert.DoesNotContain(password.Length > 0 ? password : "\u0001", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Disabled_token_is_refused()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings(enabled: false));
        using var response = await registry.GetTokenAsync("line-puller", Password, "repository:factory/line:pull");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Expired_token_is_refused()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings(expiry: DateTimeOffset.UtcNow.AddMinutes(-1)));
        using var response = await registry.GetTokenAsync("line-puller", Password, "repository:factory/line:pull");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task No_credentials_get_401_unless_anonymous_pull_is_on_and_then_only_pull()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        using (var refused = await registry.GetTokenAsync(null, null, "repository:factory/line:pull"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        registry.Apply(Settings(anonymousPull: true));
        using var anonymous = await registry.GetTokenAsync(null, null, "repository:anything:pull,push");
        Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
        var token = (string)(await JsonAsync(anonymous))["token"]!;
        using var pull = await registry.SendAsync(HttpMethod.Get, "/v2/anything/manifests/latest", new("Bearer", token));
        Assert.Equal(HttpStatusCode.NotFound, pull.StatusCode); // passed access control; nothing pushed yet
        using var push = await registry.SendAsync(HttpMethod.Put, "/v2/anything/manifests/latest", new("Bearer", token));
        Assert.Equal(HttpStatusCode.Unauthorized, push.StatusCode);
    }

    [Fact]
    public async Task Offline_token_request_adds_a_refresh_token()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        using var request = new HttpRequestMessage(HttpMethod.Get, "/oauth2/token?service=x&client_id=docker&offline_token=true");
        request.Headers.Authorization = AuthTestRegistry.Basic("line-puller", Password);
        using var response = await registry.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(string.IsNullOrEmpty((string?)(await JsonAsync(response))["refresh_token"]));
    }

    [Fact]
    public async Task Post_password_grant_then_refresh_token_grant()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        using var first = await registry.Client.PostAsync("/oauth2/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "password",
            ["username"] = "line-puller",
            ["password"] = Password,
            ["service"] = registry.Instance.HostPort,
            ["scope"] = "repository:factory/line:pull repository:factory/tools:pull",
            ["client_id"] = "docker",
            ["access_type"] = "offline",
        }));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var body = await JsonAsync(first);
        Assert.Equal("repository:factory/line:pull repository:factory/tools:pull", (string?)body["scope"]);
        var refresh = (string)body["refresh_token"]!;

        using var second = await registry.Client.PostAsync("/oauth2/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = refresh,
            ["service"] = registry.Instance.HostPort,
            ["scope"] = "repository:factory/tools:pull",
            ["client_id"] = "containers/image",
        }));
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var access = (string)(await JsonAsync(second))["access_token"]!;
        using var pull = await registry.SendAsync(HttpMethod.Get, "/v2/factory/tools/tags/list", new("Bearer", access));
        Assert.Equal(HttpStatusCode.NotFound, pull.StatusCode); // passed access control; nothing pushed yet

        // The refresh token is not an access token.
        using var misuse = await registry.SendAsync(HttpMethod.Get, "/v2/factory/tools/tags/list", new("Bearer", refresh));
        Assert.Equal(HttpStatusCode.Unauthorized, misuse.StatusCode);
    }

    [Fact]
    public async Task Rotating_the_password_revokes_refresh_and_access_tokens()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        using var first = await registry.Client.PostAsync("/oauth2/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "password", ["username"] = "line-puller", ["password"] = Password, ["scope"] = "repository:factory/line:pull",
        }));
        var body = await JsonAsync(first);
        registry.Apply(With(tokens: new() { ["line-puller"] = Token("rotated-password", new() { ["factory/*"] = [RegistryActions.ContentRead] }) }));

        using var refreshed = await registry.Client.PostAsync("/oauth2/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = (string)body["refresh_token"]!,
        }));
        Assert.Equal(HttpStatusCode.Unauthorized, refreshed.StatusCode);
        using var pull = await registry.SendAsync(HttpMethod.Get, "/v2/factory/line/manifests/latest", new("Bearer", (string)body["access_token"]!));
        Assert.Equal(HttpStatusCode.Unauthorized, pull.StatusCode);
        Assert.Contains("invalid_token", pull.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Disabling_a_token_stops_its_issued_access_tokens()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        var token = await registry.AccessTokenAsync("line-puller", Password, "repository:factory/line:pull");
        registry.Apply(Settings(enabled: false));
        using var pull = await registry.SendAsync(HttpMethod.Get, "/v2/factory/line/manifests/latest", new("Bearer", token));
        Assert.Equal(HttpStatusCode.Unauthorized, pull.StatusCode);
    }

    [Fact]
    public async Task Access_token_expires()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var registry = await AuthTestRegistry.StartAsync(Settings(), time: time);
        var token = await registry.AccessTokenAsync("line-puller", Password, "repository:factory/line:pull");
        using (var fresh = await registry.SendAsync(HttpMethod.Get, "/v2/factory/line/manifests/latest", new("Bearer", token)))
        {
            Assert.Equal(HttpStatusCode.NotFound, fresh.StatusCode);
        }

        time.Advance(TimeSpan.FromMinutes(5));
        using var stale = await registry.SendAsync(HttpMethod.Get, "/v2/factory/line/manifests/latest", new("Bearer", token));
        Assert.Equal(HttpStatusCode.Unauthorized, stale.StatusCode);
    }

    [Fact]
    public async Task Post_with_unknown_grant_or_no_form_is_a_400()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        using var unknown = await registry.Client.PostAsync("/oauth2/token", new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "client_credentials" }));
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Equal("UNSUPPORTED", await AuthTestRegistry.ErrorCodeAsync(unknown));
        using var json = await registry.Client.PostAsync("/oauth2/token", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, json.StatusCode);
        using var oversized = await registry.Client.PostAsync("/oauth2/token", new StringContent(new string('k', 5000) + "=v", System.Text.Encoding.ASCII, "application/x-www-form-urlencoded"));
        Assert.Equal(HttpStatusCode.BadRequest, oversized.StatusCode);
        Assert.Equal("UNSUPPORTED", await AuthTestRegistry.ErrorCodeAsync(oversized));
    }

    [Fact]
    public async Task Failed_logins_are_rate_limited_per_address_and_name_with_retry_after_but_the_owner_gets_in()
    {
        var settings = Settings();
        await using var registry = await AuthTestRegistry.StartAsync(
            settings with { ClientTokens = new Dictionary<string, ClientTokenSettings>(settings.ClientTokens) { ["tool-puller"] = Token("tool-password", new() { ["tools"] = [RegistryActions.ContentRead] }) } },
            new AuthOptions { MaxFailuresPerWindow = 3, OverLimitFailureDelay = TimeSpan.Zero });
        for (var i = 0; i < 3; i++)
        {
            using var bad = await registry.GetTokenAsync("line-puller", "wrong-" + i, "repository:factory/line:pull");
            Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        }

        // Past the limit a wrong password is refused, with the time until the oldest failure leaves the window.
        using var blocked = await registry.GetTokenAsync("line-puller", "wrong-3", "repository:factory/line:pull");
        Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
        Assert.Equal("TOOMANYREQUESTS", await AuthTestRegistry.ErrorCodeAsync(blocked));
        var retryAfter = int.Parse(blocked.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 60);
        using var api = await registry.SendAsync(HttpMethod.Get, "/v2/factory/line/manifests/latest", AuthTestRegistry.Basic("line-puller", "wrong-4"));
        Assert.Equal(HttpStatusCode.TooManyRequests, api.StatusCode);
        using var post = await registry.Client.PostAsync("/oauth2/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "password", ["username"] = "line-puller", ["password"] = "wrong-5",
        }));
        Assert.Equal(HttpStatusCode.TooManyRequests, post.StatusCode);

        // The right password is still checked, and gets in: failures slow a guesser, they never lock out the owner.
        using var owner = await registry.GetTokenAsync("line-puller", Password, "repository:factory/line:pull");
        Assert.Equal(HttpStatusCode.OK, owner.StatusCode);

        // Another token behind the same address (an API proxy) still signs in.
        using var other = await registry.GetTokenAsync("tool-puller", "tool-password", "repository:tools:pull");
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Fact]
    public async Task Open_registry_issues_tokens_for_whatever_is_asked()
    {
        await using var registry = await AuthTestRegistry.StartAsync(With());
        using var response = await registry.GetTokenAsync(null, null, "repository:app:pull,push");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Signing_key_survives_a_restart_so_issued_tokens_stay_valid()
    {
        var data = Infrastructure.TempDirectory.Create("auth-restart");
        try
        {
            var settings = Settings();
            string token;
            var first = await AuthTestRegistry.StartAsync(settings, dataRoot: data);
            await using (first.Instance)
            {
                token = await first.AccessTokenAsync("line-puller", Password, "repository:factory/line:pull");
            }

            var keyFile = Path.Combine(data, "auth", "token-signing.key");
            Assert.True(File.Exists(keyFile));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
            }

            var second = await AuthTestRegistry.StartAsync(settings, dataRoot: data);
            await using (second.Instance)
            {
                using var pull = await second.SendAsync(HttpMethod.Get, "/v2/factory/line/manifests/latest", new("Bearer", token));
                Assert.Equal(HttpStatusCode.NotFound, pull.StatusCode); // passed access control; nothing pushed yet
            }
        }
        finally
        {
            Infrastructure.TempDirectory.Delete(data);
        }
    }

    [Fact]
    public async Task An_oversized_token_request_body_is_refused_before_it_is_read_into_memory()
    {
        // The token endpoint is reachable without credentials; Kestrel's global body limit is off (blobs stream),
        // so the endpoint must bound the form itself or any caller could make it buffer megabytes per request.
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        var huge = new string('x', 1024 * 1024);
        using var declared = await registry.Client.PostAsync("/oauth2/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "password", ["username"] = "line-puller", ["password"] = huge, ["scope"] = "repository:factory/line:pull",
        }));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
        Assert.Equal("SIZE_INVALID", await AuthTestRegistry.ErrorCodeAsync(declared));

        // Chunked (no Content-Length): the limit still applies while reading.
        var form = "grant_type=password&username=line-puller&password=" + huge;
        using var chunked = new HttpRequestMessage(HttpMethod.Post, "/oauth2/token")
        {
            Content = new StreamContent(new MemoryStream(System.Text.Encoding.ASCII.GetBytes(form))),
        };
        chunked.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-www-form-urlencoded");
        chunked.Headers.TransferEncodingChunked = true;
        using var chunkedResponse = await registry.Client.SendAsync(chunked);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunkedResponse.StatusCode);
        Assert.Equal("SIZE_INVALID", await AuthTestRegistry.ErrorCodeAsync(chunkedResponse));

        // A normal form still works.
        using var normal = await registry.Client.PostAsync("/oauth2/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "password", ["username"] = "line-puller", ["password"] = Password, ["scope"] = "repository:factory/line:pull",
        }));
        Assert.Equal(HttpStatusCode.OK, normal.StatusCode);
    }
}
