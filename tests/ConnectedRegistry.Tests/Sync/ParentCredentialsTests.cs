using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Tests.Sync;

public class ParentCredentialsTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] values) =>
        key => values.FirstOrDefault(v => v.Key == key).Value;

    private static readonly RegistrySettings WithParent = new()
    {
        Name = "factory-line-1",
        Parent = new ParentSettings { Endpoint = new Uri("https://parent.example"), SyncTokenName = "line-sync" },
    };

    [Fact]
    public void Password_from_environment_and_user_from_twin()
    {
        var credentials = ParentCredentials.Resolve(WithParent, Env(("PARENT_SYNC_TOKEN_PASSWORD", "pw1")));
        Assert.NotNull(credentials);
        Assert.Equal("line-sync", credentials.UserName);
        Assert.Equal("pw1", credentials.Password);
    }

    [Fact]
    public void Connection_string_supplies_password_user_and_endpoint()
    {
        var env = Env(("ACR_REGISTRY_CONNECTION_STRING", "ConnectedRegistryName=myreg;SyncTokenName=myreg-sync-token;SyncTokenPassword=a=b;c;ParentGatewayEndpoint=parent.example;ParentEndpointProtocol=https"));
        var settings = RegistrySettings.Default;
        var credentials = ParentCredentials.Resolve(settings, env);
        Assert.NotNull(credentials);
        Assert.Equal("myreg-sync-token", credentials.UserName);
        Assert.Equal("a=b", credentials.Password);
        Assert.Equal(new Uri("https://parent.example"), ParentCredentials.ResolveEndpoint(settings, env));
    }

    [Fact]
    public void Environment_password_wins_over_connection_string_and_twin_name_wins_over_its_user()
    {
        var env = Env(("PARENT_SYNC_TOKEN_PASSWORD", "direct"), ("ACR_REGISTRY_CONNECTION_STRING", "SyncTokenName=other;SyncTokenPassword=fromcs"));
        var credentials = ParentCredentials.Resolve(WithParent, env);
        Assert.Equal("line-sync", credentials!.UserName);
        Assert.Equal("direct", credentials.Password);
        Assert.Equal(new Uri("https://parent.example"), ParentCredentials.ResolveEndpoint(WithParent, env));
    }

    [Fact]
    public void Registry_name_is_the_user_when_no_token_name_is_given()
    {
        var settings = WithParent with { Parent = WithParent.Parent! with { SyncTokenName = null } };
        Assert.Equal("factory-line-1", ParentCredentials.Resolve(settings, Env(("PARENT_SYNC_TOKEN_PASSWORD", "pw")))!.UserName);
    }

    [Fact]
    public void No_password_means_anonymous()
    {
        Assert.Null(ParentCredentials.Resolve(WithParent, Env()));
        Assert.Null(ParentCredentials.ResolveEndpoint(RegistrySettings.Default, Env()));
    }

    [Fact]
    public void Http_protocol_in_connection_string_gives_http_endpoint()
    {
        var env = Env(("ACR_REGISTRY_CONNECTION_STRING", "ParentGatewayEndpoint=10.0.0.4:8000;ParentEndpointProtocol=http"));
        Assert.Equal(new Uri("http://10.0.0.4:8000"), ParentCredentials.ResolveEndpoint(RegistrySettings.Default, env));
    }

    [Fact]
    public void Password_never_shows_in_text()
    {
        var credentials = new ParentCredentials("user", "top-secret");
        Assert.DoesNotContain("top-secret", credentials.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("top-secret", $"{credentials}", StringComparison.Ordinal);
    }
}

public class AuthChallengeTests
{
    [Fact]
    public void Parses_quoted_parameters_with_commas_and_escapes()
    {
        var challenge = AuthChallenge.Parse("Bearer", "realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push\"");
        Assert.True(challenge.IsBearer);
        Assert.Equal("https://auth.example/token", challenge.Realm);
        Assert.Equal("registry.example", challenge.Service);
        Assert.Equal("repository:a/b:pull,push", challenge.Scope);
    }

    [Fact]
    public void Parses_unquoted_values_and_ignores_case_of_names()
    {
        var challenge = AuthChallenge.Parse("basic", "Realm=test, charset=UTF-8");
        Assert.True(challenge.IsBasic);
        Assert.Equal("test", challenge.Realm);
        Assert.Equal("UTF-8", challenge.Parameters["charset"]);
    }

    [Theory]
    [InlineData("GET", "https://p/v2/_catalog?n=10", "registry:catalog:*")]
    [InlineData("GET", "https://p/v2/a/b/manifests/v1", "repository:a/b:pull")]
    [InlineData("HEAD", "https://p/v2/a/blobs/sha256:00", "repository:a:pull")]
    [InlineData("PUT", "https://p/v2/a/manifests/v1", "repository:a:pull,push")]
    [InlineData("PATCH", "https://p/v2/x/y/blobs/uploads/123", "repository:x/y:pull,push")]
    [InlineData("GET", "https://p/v2/", "")]
    [InlineData("GET", "https://p/v2/a/blobs/b/manifests/v1", "repository:a/blobs/b:pull")]
    [InlineData("HEAD", "https://p/v2/a/manifests/b/blobs/sha256:00", "repository:a/manifests/b:pull")]
    [InlineData("POST", "https://p/v2/a/tags/b/blobs/uploads/", "repository:a/tags/b:pull,push")]
    [InlineData("GET", "https://p/prefix/v2/a/blobs/b/tags/list", "repository:a/blobs/b:pull")]
    public void Scope_of_request(string method, string url, string scope)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), url);
        Assert.Equal(scope, ParentAuthHandler.ScopeOf(request));
    }
}
