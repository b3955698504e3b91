using System.Net;
using System.Net.Http.Headers;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Hosting;
using static ConnectedRegistry.IntegrationTests.Auth.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

/// <summary>One registry with four tokens, shared by the whole matrix.</summary>
public sealed class ScopeMatrixFixture : IAsyncLifetime
{
    public const string Digest = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

    internal AuthTestRegistry Registry { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        string[] everything = [.. RegistryActions.All];
        Registry = await AuthTestRegistry.StartAsync(
            With(tokens: new()
            {
                ["app-writer"] = Token("writer-pw", new() { ["app"] = [RegistryActions.ContentRead, RegistryActions.ContentWrite, RegistryActions.ContentDelete, RegistryActions.MetadataRead] }),
                ["factory-reader"] = Token("reader-pw", new() { ["factory/*"] = [RegistryActions.ContentRead, RegistryActions.MetadataRead] }),
                ["disabled-token"] = Token("disabled-pw", new() { ["*"] = everything }, enabled: false),
                ["expired-token"] = Token("expired-pw", new() { ["*"] = everything }, expiry: DateTimeOffset.UtcNow.AddDays(-1)),
            }),
            new AuthOptions { MaxFailuresPerWindow = 10_000 });
    }

    public async Task DisposeAsync() => await Registry.DisposeAsync();
}

public class ScopeMatrixTests(ScopeMatrixFixture fixture) : IClassFixture<ScopeMatrixFixture>
{
    private const string D = ScopeMatrixFixture.Digest;

    // Endpoint classes: R content/read, T metadata/read (tags), W content/write, X content/delete.
    private static readonly (string Method, string Path, char Class)[] Endpoints =
    [
        ("GET", "/v2/{0}/manifests/latest", 'R'),
        ("HEAD", "/v2/{0}/manifests/latest", 'R'),
        ("GET", "/v2/{0}/blobs/" + D, 'R'),
        ("HEAD", "/v2/{0}/blobs/" + D, 'R'),
        ("GET", "/v2/{0}/referrers/" + D, 'R'),
        ("GET", "/v2/{0}/tags/list", 'T'),
        ("PUT", "/v2/{0}/manifests/latest", 'W'),
        ("POST", "/v2/{0}/blobs/uploads/", 'W'),
        ("PATCH", "/v2/{0}/blobs/uploads/5f1e", 'W'),
        ("PUT", "/v2/{0}/blobs/uploads/5f1e?digest=" + D, 'W'),
        ("GET", "/v2/{0}/blobs/uploads/5f1e", 'W'),
        ("DELETE", "/v2/{0}/manifests/" + D, 'X'),
        ("DELETE", "/v2/{0}/blobs/" + D, 'X'),
    ];

    // Who asks, on which repository, and the expected outcome per endpoint class (ok = passes to the endpoint).
    private static readonly (string Case, string? User, string? Password, string Repository, string R, string T, string W, string X)[] Callers =
    [
        ("right repository", "app-writer", "writer-pw", "app", "ok", "ok", "ok", "ok"),
        ("wrong repository", "app-writer", "writer-pw", "other", "403", "403", "403", "403"),
        ("wildcard", "factory-reader", "reader-pw", "factory/line/cell", "ok", "ok", "403", "403"),
        ("wildcard, outside", "factory-reader", "reader-pw", "factory", "403", "403", "403", "403"),
        ("disabled", "disabled-token", "disabled-pw", "app", "401", "401", "401", "401"),
        ("expired", "expired-token", "expired-pw", "app", "401", "401", "401", "401"),
        ("wrong password", "app-writer", "not-the-password", "app", "401", "401", "401", "401"),
        ("no credentials", null, null, "app", "401", "401", "401", "401"),
    ];

    public static TheoryData<string, string, string, string> Matrix()
    {
        var data = new TheoryData<string, string, string, string>();
        foreach (var caller in Callers)
        {
            foreach (var (method, path, cls) in Endpoints)
            {
                var expected = cls switch { 'R' => caller.R, 'T' => caller.T, 'W' => caller.W, _ => caller.X };
                data.Add(caller.Case, method, path, expected);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task Basic_credentials(string caller, string method, string pathTemplate, string expected)
    {
        var c = Callers.Single(x => x.Case == caller);
        var auth = c.User is null ? null : AuthTestRegistry.Basic(c.User, c.Password!);
        await AssertOutcome(method, string.Format(System.Globalization.CultureInfo.InvariantCulture, pathTemplate, c.Repository), auth, expected);
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task Bearer_token_from_the_token_endpoint(string caller, string method, string pathTemplate, string expected)
    {
        var c = Callers.Single(x => x.Case == caller);
        AuthenticationHeaderValue? auth = null;
        if (c.User is not null)
        {
            using var response = await fixture.Registry.GetTokenAsync(c.User, c.Password, $"repository:{c.Repository}:pull,push,delete");
            if (expected == "401")
            {
                // Bad, disabled and expired credentials get no token at all.
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
                return;
            }

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var token = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!["token"]!.ToString();
            auth = new AuthenticationHeaderValue("Bearer", token);
        }

        await AssertOutcome(method, string.Format(System.Globalization.CultureInfo.InvariantCulture, pathTemplate, c.Repository), auth, expected);
    }

    private async Task AssertOutcome(string method, string path, AuthenticationHeaderValue? auth, string expected)
    {
        using var response = await fixture.Registry.SendAsync(new HttpMethod(method), path, auth);
        switch (expected)
        {
            case "ok":
                Assert.Equal(AuthTestRegistry.Reached, (int)response.StatusCode);
                break;
            case "403":
                Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
                if (method != "HEAD")
                {
                    Assert.Equal("DENIED", await AuthTestRegistry.ErrorCodeAsync(response));
                }

                break;
            default:
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
                Assert.StartsWith("Bearer realm=", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
                if (method != "HEAD")
                {
                    Assert.Equal("UNAUTHORIZED", await AuthTestRegistry.ErrorCodeAsync(response));
                }

                break;
        }
    }

    [Fact]
    public async Task Mount_needs_read_on_the_source_repository_too()
    {
        var path = $"/v2/app/blobs/uploads/?mount={D}&from=factory/line";
        using var refused = await fixture.Registry.SendAsync(HttpMethod.Post, path, AuthTestRegistry.Basic("app-writer", "writer-pw"));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("factory/line", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var allowed = await fixture.Registry.SendAsync(HttpMethod.Post, $"/v2/app/blobs/uploads/?mount={D}&from=app", AuthTestRegistry.Basic("app-writer", "writer-pw"));
        Assert.Equal(AuthTestRegistry.Reached, (int)allowed.StatusCode);
    }

    [Fact]
    public async Task Catalog_needs_an_identity_and_shows_only_what_it_may_read()
    {
        using var anonymous = await fixture.Registry.SendAsync(HttpMethod.Get, "/v2/_catalog");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Contains("scope=\"registry:catalog:*\"", anonymous.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

        using var reader = await fixture.Registry.SendAsync(HttpMethod.Get, "/v2/_catalog?visible=app&visible=factory/a&visible=factory/b/c&visible=other", AuthTestRegistry.Basic("factory-reader", "reader-pw"));
        Assert.Equal(AuthTestRegistry.Reached, (int)reader.StatusCode);
        var body = System.Text.Json.Nodes.JsonNode.Parse(await reader.Content.ReadAsStringAsync())!;
        Assert.Equal("factory-reader", (string?)body["subject"]);
        Assert.Equal(["factory/a", "factory/b/c"], body["visible"]!.AsArray().Select(n => (string)n!));
    }

    [Fact]
    public async Task Base_endpoint_challenges_without_credentials_and_answers_with_them()
    {
        using var challenge = await fixture.Registry.Client.GetAsync("/v2/");
        Assert.Equal(HttpStatusCode.Unauthorized, challenge.StatusCode);
        var host = fixture.Registry.Instance.HostPort;
        Assert.Equal($"Bearer realm=\"http://{host}/oauth2/token\",service=\"{host}\"", challenge.Headers.WwwAuthenticate.ToString());
        Assert.Equal("registry/2.0", challenge.Headers.GetValues("Docker-Distribution-API-Version").Single());

        using var ok = await fixture.Registry.SendAsync(HttpMethod.Get, "/v2/", AuthTestRegistry.Basic("factory-reader", "reader-pw"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task Challenge_names_the_scope_the_request_needs()
    {
        using var pull = await fixture.Registry.Client.GetAsync("/v2/factory/line/manifests/v1");
        var host = fixture.Registry.Instance.HostPort;
        Assert.Equal($"Bearer realm=\"http://{host}/oauth2/token\",service=\"{host}\",scope=\"repository:factory/line:pull\"", pull.Headers.WwwAuthenticate.ToString());
        using var push = await fixture.Registry.SendAsync(HttpMethod.Post, "/v2/factory/line/blobs/uploads/");
        Assert.Contains("scope=\"repository:factory/line:pull,push\"", push.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
    }
}
