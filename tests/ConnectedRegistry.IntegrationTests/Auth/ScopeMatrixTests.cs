using System.Net;
using System.Net.Http.Headers;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using static ConnectedRegistry.IntegrationTests.Infrastructure.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

/// <summary>One registry with four tokens and one image in <c>app</c> and <c>factory/line/cell</c>, shared by the whole matrix.</summary>
public sealed class ScopeMatrixFixture : IAsyncLifetime
{
    /// <summary>A digest nothing in the registry has.</summary>
    public const string Absent = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

    public static readonly TestImage Image = TestContent.Image("scope-matrix", layers: 1, layerSize: 300);

    /// <summary>A blob only <c>factory/a</c> has.</summary>
    public static readonly TestBlob FactoryOnlyBlob = new(TestContent.Bytes("factory-only", 700), TestContent.LayerType);

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
            new AuthOptions { MaxFailuresPerWindow = 10_000, MaxFailuresPerAddress = 10_000 },
            seed: async client =>
            {
                foreach (var repository in new[] { "app", "factory/line/cell", "factory/a", "factory/b/c", "other" })
                {
                    await client.PushImageAsync(repository, "latest", Image);
                }

                await client.PushBlobAsync("factory/a", FactoryOnlyBlob);
            });
    }

    public async Task DisposeAsync() => await Registry.DisposeAsync();
}

public class ScopeMatrixTests(ScopeMatrixFixture fixture) : IClassFixture<ScopeMatrixFixture>
{
    private const string D = ScopeMatrixFixture.Absent;
    private static readonly string Config = ScopeMatrixFixture.Image.Config.Digest.ToString();
    private static readonly string Manifest = ScopeMatrixFixture.Image.Manifest.Digest.ToString();

    // Endpoint classes: R content/read, T metadata/read (tags), W content/write, X content/delete; Ok is what the
    // endpoint itself answers once access control let the request through (deletes target absent content so the
    // shared image stays in place).
    private static readonly (string Method, string Path, char Class, string Ok)[] Endpoints =
    [
        ("GET", "/v2/{0}/manifests/latest", 'R', "200"),
        ("HEAD", "/v2/{0}/manifests/latest", 'R', "200"),
        ("GET", "/v2/{0}/blobs/" + Config, 'R', "200"),
        ("HEAD", "/v2/{0}/blobs/" + Config, 'R', "200"),
        ("GET", "/v2/{0}/referrers/" + Manifest, 'R', "200"),
        ("GET", "/v2/{0}/tags/list", 'T', "200"),
        ("PUT", "/v2/{0}/manifests/latest", 'W', "201"),
        ("POST", "/v2/{0}/blobs/uploads/", 'W', "202"),
        ("PATCH", "/v2/{0}/blobs/uploads/5f1e", 'W', "404 BLOB_UPLOAD_UNKNOWN"),
        ("PUT", "/v2/{0}/blobs/uploads/5f1e?digest=" + D, 'W', "404 BLOB_UPLOAD_UNKNOWN"),
        ("GET", "/v2/{0}/blobs/uploads/5f1e", 'W', "404 BLOB_UPLOAD_UNKNOWN"),
        ("DELETE", "/v2/{0}/manifests/" + D, 'X', "404 MANIFEST_UNKNOWN"),
        ("DELETE", "/v2/{0}/blobs/" + D, 'X', "404 BLOB_UNKNOWN"),
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
            foreach (var (method, path, cls, ok) in Endpoints)
            {
                var expected = cls switch { 'R' => caller.R, 'T' => caller.T, 'W' => caller.W, _ => caller.X };
                data.Add(caller.Case, method, path, expected == "ok" ? ok : expected);
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
        var body = method == "PUT" && path.Contains("/manifests/", StringComparison.Ordinal) ? ScopeMatrixFixture.Image.Manifest : null;
        using var response = await fixture.Registry.SendAsync(new HttpMethod(method), path, auth, body);
        switch (expected)
        {
            case "200" or "201" or "202":
                Assert.Equal(int.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), (int)response.StatusCode);
                break;
            case ['4', '0', '4', ' ', ..]:
                Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
                Assert.Equal(expected[4..], await AuthTestRegistry.ErrorCodeAsync(response));
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
    public async Task Mount_happens_only_when_the_source_is_readable_and_otherwise_falls_back_to_an_upload()
    {
        var writer = AuthTestRegistry.Basic("app-writer", "writer-pw");
        var onlyInFactory = ScopeMatrixFixture.FactoryOnlyBlob.Digest;

        // Source not readable by this token: no mount, a plain upload session instead (202), nothing linked.
        using var declined = await fixture.Registry.SendAsync(HttpMethod.Post, $"/v2/app/blobs/uploads/?mount={onlyInFactory}&from=factory/a", writer);
        Assert.Equal(HttpStatusCode.Accepted, declined.StatusCode);
        using var notLinked = await fixture.Registry.SendAsync(HttpMethod.Head, $"/v2/app/blobs/{onlyInFactory}", writer);
        Assert.Equal(HttpStatusCode.NotFound, notLinked.StatusCode);

        // Source readable: the blob is mounted (201), no upload needed.
        using var allowed = await fixture.Registry.SendAsync(HttpMethod.Post, $"/v2/app/blobs/uploads/?mount={Config}&from=app", writer);
        Assert.Equal(HttpStatusCode.Created, allowed.StatusCode);

        // The target still needs write: a reader cannot mount anywhere.
        using var refused = await fixture.Registry.SendAsync(HttpMethod.Post, $"/v2/factory/x/blobs/uploads/?mount={Config}&from=factory/a", AuthTestRegistry.Basic("factory-reader", "reader-pw"));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
    }

    [Fact]
    public async Task Catalog_needs_an_identity_and_shows_only_what_it_may_read()
    {
        using var anonymous = await fixture.Registry.SendAsync(HttpMethod.Get, "/v2/_catalog");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Contains("scope=\"registry:catalog:*\"", anonymous.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

        using var reader = await fixture.Registry.SendAsync(HttpMethod.Get, "/v2/_catalog", AuthTestRegistry.Basic("factory-reader", "reader-pw"));
        Assert.Equal(HttpStatusCode.OK, reader.StatusCode);
        var body = System.Text.Json.Nodes.JsonNode.Parse(await reader.Content.ReadAsStringAsync())!;
        Assert.Equal(["factory/a", "factory/b/c", "factory/line/cell"], body["repositories"]!.AsArray().Select(n => (string)n!).Order());

        var token = await fixture.Registry.AccessTokenAsync("app-writer", "writer-pw", "registry:catalog:*");
        using var writer = await fixture.Registry.SendAsync(HttpMethod.Get, "/v2/_catalog", new AuthenticationHeaderValue("Bearer", token));
        var writerBody = System.Text.Json.Nodes.JsonNode.Parse(await writer.Content.ReadAsStringAsync())!;
        Assert.Equal(["app"], writerBody["repositories"]!.AsArray().Select(n => (string)n!));
    }

    [Fact]
    public async Task A_bearer_token_without_the_catalog_scope_does_not_list_the_catalog()
    {
        // A token issued for one repository must not reveal the names of the others the identity may read.
        var narrow = await fixture.Registry.AccessTokenAsync("factory-reader", "reader-pw", "repository:factory/a:pull");
        using var refused = await fixture.Registry.SendAsync(HttpMethod.Get, "/v2/_catalog", new AuthenticationHeaderValue("Bearer", narrow));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        var challenge = refused.Headers.WwwAuthenticate.ToString();
        Assert.Contains("error=\"insufficient_scope\"", challenge, StringComparison.Ordinal);
        Assert.Contains("scope=\"registry:catalog:*\"", challenge, StringComparison.Ordinal);
        Assert.DoesNotContain("factory/b/c", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The same token still pulls what it was issued for; a token with the catalog scope lists.
        using var pull = await fixture.Registry.SendAsync(HttpMethod.Get, "/v2/factory/a/tags/list", new AuthenticationHeaderValue("Bearer", narrow));
        Assert.Equal(HttpStatusCode.OK, pull.StatusCode);
        var wide = await fixture.Registry.AccessTokenAsync("factory-reader", "reader-pw", "registry:catalog:*");
        using var listed = await fixture.Registry.SendAsync(HttpMethod.Get, "/v2/_catalog", new AuthenticationHeaderValue("Bearer", wide));
        Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
    }

    [Fact]
    public async Task Base_endpoint_challenges_without_credentials_and_answers_with_them()
    {
        using var challenge = await fixture.Registry.Client.GetAsync("/v2/");
        Assert.Equal(HttpStatusCode.Unauthorized, challenge.StatusCode);
        var host = fixture.Registry.Instance.HostPort;
        Assert.Equal($"Bearer realm=\"http://{host}/acr/oauth2/token\",service=\"{host}\"", challenge.Headers.WwwAuthenticate.ToString());
        Assert.Equal("registry/2.0", challenge.Headers.GetValues("Docker-Distribution-API-Version").Single());

        using var ok = await fixture.Registry.SendAsync(HttpMethod.Get, "/v2/", AuthTestRegistry.Basic("factory-reader", "reader-pw"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task Challenge_names_the_scope_the_request_needs()
    {
        using var pull = await fixture.Registry.Client.GetAsync("/v2/factory/line/manifests/v1");
        var host = fixture.Registry.Instance.HostPort;
        Assert.Equal($"Bearer realm=\"http://{host}/acr/oauth2/token\",service=\"{host}\",scope=\"repository:factory/line:pull\"", pull.Headers.WwwAuthenticate.ToString());
        using var push = await fixture.Registry.SendAsync(HttpMethod.Post, "/v2/factory/line/blobs/uploads/");
        Assert.Contains("scope=\"repository:factory/line:pull,push\"", push.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
    }
}
