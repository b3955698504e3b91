using System.Net;
using System.Text.Json.Nodes;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using static ConnectedRegistry.IntegrationTests.Infrastructure.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

public class AuthenticationTests
{
    [Fact]
    public async Task Registry_without_tokens_or_children_is_open_and_warns()
    {
        await using var registry = await AuthTestRegistry.StartAsync(With());
        using var push = await registry.SendAsync(HttpMethod.Post, "/v2/app/blobs/uploads/");
        Assert.Equal(HttpStatusCode.Accepted, push.StatusCode);
        Assert.Contains(registry.Logs.Lines, l => l.Contains("Authentication is OFF", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Adding_a_token_turns_authentication_on_at_once()
    {
        await using var registry = await AuthTestRegistry.StartAsync(With());
        registry.Apply(With(tokens: new() { ["line-puller"] = Token("pw-12345", new() { ["*"] = [RegistryActions.ContentRead] }) }));
        using var response = await registry.SendAsync(HttpMethod.Get, "/v2/app/manifests/latest");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Basic_credentials_work_on_the_api_itself()
    {
        var image = TestContent.Image("basic-on-api", layers: 1, layerSize: 256);
        await using var registry = await AuthTestRegistry.StartAsync(
            With(tokens: new() { ["line-puller"] = Token("pw-12345", new() { ["app"] = [RegistryActions.ContentRead] }) }),
            seed: client => client.PushImageAsync("app", "v1", image));
        using var response = await registry.SendAsync(HttpMethod.Get, "/v2/app/manifests/v1", AuthTestRegistry.Basic("line-puller", "pw-12345"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(image.Manifest.Bytes, await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Malformed_authorization_is_a_401()
    {
        await using var registry = await AuthTestRegistry.StartAsync(With(tokens: new() { ["line-puller"] = Token("pw-12345", new() { ["app"] = [RegistryActions.ContentRead] }) }));
        foreach (var header in new[] { "Basic !!!", "Digest abc", "Bearer not.a.jwt" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/app/manifests/latest");
            request.Headers.TryAddWithoutValidation("Authorization", header);
            using var response = await registry.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("UNAUTHORIZED", await AuthTestRegistry.ErrorCodeAsync(response));
        }
    }

    [Fact]
    public async Task Anonymous_pull_reads_without_credentials_but_never_writes_or_lists_the_catalog()
    {
        await using var registry = await AuthTestRegistry.StartAsync(With(
            tokens: new() { ["line-puller"] = Token("pw-12345", new() { ["app"] = [RegistryActions.ContentRead] }) },
            anonymousPull: true));
        using var read = await registry.SendAsync(HttpMethod.Get, "/v2/any/repo/manifests/latest");
        Assert.Equal(HttpStatusCode.NotFound, read.StatusCode);
        using var tags = await registry.SendAsync(HttpMethod.Get, "/v2/any/repo/tags/list");
        Assert.Equal(HttpStatusCode.NotFound, tags.StatusCode);
        using var write = await registry.SendAsync(HttpMethod.Put, "/v2/any/repo/manifests/latest");
        Assert.Equal(HttpStatusCode.Unauthorized, write.StatusCode);
        using var catalog = await registry.SendAsync(HttpMethod.Get, "/v2/_catalog");
        Assert.Equal(HttpStatusCode.Unauthorized, catalog.StatusCode);

        // Wrong credentials never fall back to anonymous.
        using var wrong = await registry.SendAsync(HttpMethod.Get, "/v2/any/repo/manifests/latest", AuthTestRegistry.Basic("line-puller", "nope"));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
    }

    [Fact]
    public async Task Child_registry_signs_in_with_its_name_and_sync_password_and_sees_only_its_repositories()
    {
        await using var registry = await AuthTestRegistry.StartAsync(With(children: new()
        {
            ["cell-reader"] = new ChildRegistrySettings { Mode = RegistryMode.ReadOnly, SyncTokenPasswordHash = PasswordHasher.Hash("sync-ro"), Repositories = ["factory/*"] },
            ["cell-writer"] = new ChildRegistrySettings { Mode = RegistryMode.ReadWrite, SyncTokenPasswordHash = PasswordHasher.Hash("sync-rw"), Repositories = ["factory/*"] },
        }));

        var ro = AuthTestRegistry.Basic("cell-reader", "sync-ro");
        var rw = AuthTestRegistry.Basic("cell-writer", "sync-rw");
        Assert.Equal(HttpStatusCode.NotFound, (await registry.SendAsync(HttpMethod.Get, "/v2/factory/line/manifests/latest", ro)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await registry.SendAsync(HttpMethod.Get, "/v2/factory/line/tags/list", ro)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await registry.SendAsync(HttpMethod.Put, "/v2/factory/line/manifests/latest", ro)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await registry.SendAsync(HttpMethod.Get, "/v2/other/manifests/latest", ro)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await registry.SendAsync(HttpMethod.Post, "/v2/factory/line/blobs/uploads/", rw)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await registry.SendAsync(HttpMethod.Delete, "/v2/factory/line/manifests/latest", rw)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await registry.SendAsync(HttpMethod.Post, "/v2/other/blobs/uploads/", rw)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await registry.SendAsync(HttpMethod.Get, "/v2/factory/line/manifests/latest", AuthTestRegistry.Basic("cell-reader", "sync-rw"))).StatusCode);

        var token = await registry.AccessTokenAsync("cell-writer", "sync-rw", "repository:factory/line:pull,push");
        Assert.Equal(HttpStatusCode.Accepted, (await registry.SendAsync(HttpMethod.Post, "/v2/factory/line/blobs/uploads/", new("Bearer", token))).StatusCode);
    }

    [Fact]
    public async Task Token_create_output_pasted_into_the_settings_authenticates()
    {
        using var stdout = new StringWriter();
        Assert.Equal(0, TokenCommand.Run(["create", "--name", "line-puller", "--scope", "factory/*=content/read,metadata/read", "--expiry", "2099-12-31T00:00:00Z"], stdout, TextWriter.Null));
        var output = JsonNode.Parse(stdout.ToString())!;
        var password = (string)output["password"]!;
        var entry = output["clientTokens"]!["line-puller"]!;

        // What the twin pipeline does with the pasted entry.
        var token = new ClientTokenSettings
        {
            PasswordHash = (string)entry["passwordHash"]!,
            ScopeMap = entry["scopeMap"]!.AsObject().ToDictionary(p => p.Key, p => (IReadOnlyList<string>)[.. p.Value!.AsArray().Select(a => (string)a!)]),
            Enabled = (string?)entry["status"] == "enabled",
            Expiry = DateTimeOffset.Parse((string)entry["expiry"]!, System.Globalization.CultureInfo.InvariantCulture),
        };
        Assert.Empty(AuthRules.ValidateClientToken("line-puller", token));

        await using var registry = await AuthTestRegistry.StartAsync(With(tokens: new() { ["line-puller"] = token }));
        var access = await registry.AccessTokenAsync("line-puller", password, "repository:factory/line:pull");
        using var pull = await registry.SendAsync(HttpMethod.Get, "/v2/factory/line/manifests/latest", new("Bearer", access));
        Assert.Equal(HttpStatusCode.NotFound, pull.StatusCode); // passed access control; nothing pushed yet
        using var basic = await registry.SendAsync(HttpMethod.Get, "/v2/factory/line/tags/list", AuthTestRegistry.Basic("line-puller", password));
        Assert.Equal(HttpStatusCode.NotFound, basic.StatusCode);
    }

    [Fact]
    public async Task Sync_token_create_output_pasted_into_children_authenticates_the_child()
    {
        using var stdout = new StringWriter();
        Assert.Equal(0, TokenCommand.Run(["create", "--sync", "--name", "cell-three", "--mode", "ReadOnly", "--repository", "factory/*"], stdout, TextWriter.Null));
        var output = JsonNode.Parse(stdout.ToString())!;
        var entry = output["children"]!["cell-three"]!;
        var child = new ChildRegistrySettings
        {
            Mode = Enum.Parse<RegistryMode>((string)entry["mode"]!),
            SyncTokenPasswordHash = (string)entry["syncTokenPasswordHash"]!,
            Repositories = [.. entry["repositories"]!.AsArray().Select(a => (string)a!)],
        };

        await using var registry = await AuthTestRegistry.StartAsync(With(children: new() { ["cell-three"] = child }));
        using var pull = await registry.SendAsync(HttpMethod.Get, "/v2/factory/line/manifests/latest", AuthTestRegistry.Basic("cell-three", (string)output["password"]!));
        Assert.Equal(HttpStatusCode.NotFound, pull.StatusCode); // passed access control; nothing pushed yet
    }

    [Fact]
    public async Task No_password_or_token_ever_reaches_the_log()
    {
        const string Password = "SuperSecretPassword-9f8e7d";
        await using var registry = await AuthTestRegistry.StartAsync(With(tokens: new() { ["line-puller"] = Token(Password, new() { ["app"] = [RegistryActions.ContentRead] }) }));
        var token = await registry.AccessTokenAsync("line-puller", Password, "repository:app:pull");
        await registry.SendAsync(HttpMethod.Get, "/v2/app/manifests/latest", new("Bearer", token));
        await registry.SendAsync(HttpMethod.Get, "/v2/app/manifests/latest", AuthTestRegistry.Basic("line-puller", Password));
        await registry.SendAsync(HttpMethod.Get, "/v2/app/manifests/latest", AuthTestRegistry.Basic("line-puller", Password + "-wrong"));
        await registry.SendAsync(HttpMethod.Get, "/v2/other/manifests/latest", new("Bearer", token));
        await registry.Client.PostAsync("/oauth2/token", new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "password", ["username"] = "line-puller", ["password"] = Password }));

        var basic = AuthTestRegistry.Basic("line-puller", Password).Parameter!;
        Assert.NotEmpty(registry.Logs.Lines);
        Assert.Contains(registry.Logs.Lines, l => l.Contains("Login failed for 'line-puller'", StringComparison.Ordinal));
        Assert.All(registry.Logs.Lines, line =>
        {
            Assert.DoesNotContain(Password, line, StringComparison.Ordinal);
            Assert.DoesNotContain(basic, line, StringComparison.Ordinal);
            Assert.DoesNotContain(token.Split('.')[2], line, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task Challenge_points_at_the_address_a_tls_terminating_proxy_forwarded()
    {
        await using var registry = await AuthTestRegistry.StartAsync(With(tokens: new() { ["line-puller"] = Token("pw-12345", new() { ["app"] = [RegistryActions.ContentRead] }) }));
        using var proxied = new HttpRequestMessage(HttpMethod.Get, "/v2/");
        proxied.Headers.Add("X-Forwarded-Proto", "https");
        proxied.Headers.Add("X-Forwarded-Host", "parent-device:443");
        using var response = await registry.Client.SendAsync(proxied);
        Assert.Equal("Bearer realm=\"https://parent-device:443/acr/oauth2/token\",service=\"parent-device:443\"", response.Headers.WwwAuthenticate.ToString());

        using var forged = new HttpRequestMessage(HttpMethod.Get, "/v2/");
        forged.Headers.Add("X-Forwarded-Proto", "javascript");
        forged.Headers.TryAddWithoutValidation("X-Forwarded-Host", "evil\",x=\"y");
        using var plain = await registry.Client.SendAsync(forged);
        var host = registry.Instance.HostPort;
        Assert.Equal($"Bearer realm=\"http://{host}/acr/oauth2/token\",service=\"{host}\"", plain.Headers.WwwAuthenticate.ToString());
    }
}
