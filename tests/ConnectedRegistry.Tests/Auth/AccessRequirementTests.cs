using ConnectedRegistry.Auth;
using Microsoft.Extensions.Primitives;

namespace ConnectedRegistry.Tests.Auth;

public class AccessRequirementTests
{
    private const string D = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

    [Theory]
    [InlineData("GET", "/v2/app/blobs/" + D, "app", "content/read", false)]
    [InlineData("HEAD", "/v2/app/blobs/" + D, "app", "content/read", false)]
    [InlineData("DELETE", "/v2/app/blobs/" + D, "app", "content/delete", true)]
    [InlineData("GET", "/v2/a/b/c/manifests/latest", "a/b/c", "content/read", false)]
    [InlineData("HEAD", "/v2/a/b/c/manifests/" + D, "a/b/c", "content/read", false)]
    [InlineData("PUT", "/v2/a/b/c/manifests/v1", "a/b/c", "content/write", true)]
    [InlineData("DELETE", "/v2/a/b/c/manifests/v1", "a/b/c", "content/delete", true)]
    [InlineData("GET", "/v2/factory/line/tags/list", "factory/line", "metadata/read", false)]
    [InlineData("GET", "/v2/factory/line/tags/list/", "factory/line", "metadata/read", false)]
    [InlineData("GET", "/v2/app/referrers/" + D, "app", "content/read", false)]
    [InlineData("POST", "/v2/app/blobs/uploads/", "app", "content/write", true)]
    [InlineData("POST", "/v2/app/blobs/uploads", "app", "content/write", true)]
    [InlineData("PATCH", "/v2/app/blobs/uploads/0a1b2c", "app", "content/write", true)]
    [InlineData("PUT", "/v2/app/blobs/uploads/0a1b2c", "app", "content/write", true)]
    [InlineData("DELETE", "/v2/app/blobs/uploads/0a1b2c", "app", "content/write", true)]
    [InlineData("GET", "/v2/app/blobs/uploads/0a1b2c", "app", "content/write", false)]
    [InlineData("GET", "/v2/blobs/blobs/" + D, "blobs", "content/read", false)]
    [InlineData("GET", "/v2/x/manifests/y/manifests/latest", "x/manifests/y", "content/read", false)]
    [InlineData("GET", "/v2/x/blobs/uploads/blobs/" + D, "x/blobs/uploads", "content/read", false)]
    [InlineData("GET", "/v2/a/blobs/b/manifests/latest", "a/blobs/b", "content/read", false)]
    [InlineData("PUT", "/v2/a/manifests/b/blobs/uploads/0a1b2c", "a/manifests/b", "content/write", true)]
    public void Repository_routes_map_to_repository_and_action(string method, string path, string repository, string action, bool write)
    {
        var requirement = AccessRequirement.For(method, path);
        Assert.Equal(AccessKind.Repository, requirement.Kind);
        var need = Assert.Single(requirement.Needs);
        Assert.Equal(repository, need.Repository);
        Assert.Equal(action, need.Action);
        Assert.Equal(write, requirement.IsClientWrite);
    }

    [Fact]
    public void Mount_needs_write_on_the_target_and_read_on_the_source()
    {
        var query = new Dictionary<string, StringValues> { ["mount"] = D, ["from"] = "base/image" };
        var requirement = AccessRequirement.For("POST", "/v2/app/blobs/uploads/", k => query.GetValueOrDefault(k));
        Assert.True(requirement.IsClientWrite);
        Assert.Equal([new AccessNeed("app", "content/write"), new AccessNeed("base/image", "content/read", Optional: true)], requirement.Needs);
    }

    [Fact]
    public void Mount_without_a_valid_source_is_a_plain_upload()
    {
        var query = new Dictionary<string, StringValues> { ["mount"] = D, ["from"] = "../Bad" };
        var requirement = AccessRequirement.For("POST", "/v2/app/blobs/uploads/", k => query.GetValueOrDefault(k));
        Assert.Equal([new AccessNeed("app", "content/write")], requirement.Needs);
    }

    [Theory]
    [InlineData("GET", "/v2", AccessKind.Base)]
    [InlineData("GET", "/v2/", AccessKind.Base)]
    [InlineData("HEAD", "/v2/", AccessKind.Base)]
    [InlineData("GET", "/v2/_catalog", AccessKind.Catalog)]
    [InlineData("GET", "/v2/_catalog/", AccessKind.Catalog)]
    [InlineData("DELETE", "/v2/_catalog", AccessKind.Catalog)]
    [InlineData("GET", "/v2/app/nothing/here", AccessKind.Unknown)]
    [InlineData("GET", "/v2/app", AccessKind.Unknown)]
    public void Non_repository_paths_have_no_repository_needs(string method, string path, AccessKind kind)
    {
        var requirement = AccessRequirement.For(method, path);
        Assert.Equal(kind, requirement.Kind);
        Assert.Empty(requirement.Needs);
        Assert.False(requirement.IsClientWrite);
    }

    [Theory]
    [InlineData("POST", "/v2/app/manifests/latest", "app")]
    [InlineData("PUT", "/v2/app/tags/list", "app")]
    [InlineData("POST", "/v2/app/blobs/uploads/0a1b2c", "app")]
    [InlineData("PATCH", "/v2/app/blobs/" + D, "app")]
    [InlineData("OPTIONS", "/v2/app/manifests/latest", "app")]
    public void Verbs_no_endpoint_serves_still_need_write_on_the_repository(string method, string path, string repository)
    {
        var requirement = AccessRequirement.For(method, path);
        Assert.Equal([new AccessNeed(repository, "content/write")], requirement.Needs);
        Assert.False(requirement.IsClientWrite);
    }

    [Fact]
    public void Invalid_names_are_checked_as_written_so_only_a_star_pattern_lets_them_reach_the_endpoint()
    {
        var requirement = AccessRequirement.For("GET", "/v2/UPPER/manifests/latest");
        Assert.Equal([new AccessNeed("UPPER", "content/read")], requirement.Needs);
    }

    [Theory]
    [InlineData("GET", "/v2/app/manifests/latest", "repository:app:pull")]
    [InlineData("PUT", "/v2/app/manifests/latest", "repository:app:pull,push")]
    [InlineData("DELETE", "/v2/app/manifests/latest", "repository:app:delete")]
    [InlineData("GET", "/v2/_catalog", "registry:catalog:*")]
    [InlineData("GET", "/v2/", null)]
    public void Challenge_scope_follows_the_request(string method, string path, string? scope)
    {
        Assert.Equal(scope, RegistryAuthMiddleware.ChallengeScope(AccessRequirement.For(method, path)));
    }

    [Fact]
    public void Mount_challenge_asks_for_both_repositories()
    {
        var query = new Dictionary<string, StringValues> { ["mount"] = D, ["from"] = "base" };
        Assert.Equal("repository:app:pull,push repository:base:pull", RegistryAuthMiddleware.ChallengeScope(AccessRequirement.For("POST", "/v2/app/blobs/uploads/", k => query.GetValueOrDefault(k))));
    }

    /// <summary>
    /// The one mapping between registry and Docker actions, read the three ways: what a challenge asks for is what a
    /// token must grant to cover the action. The challenge wrote its own switch beside the authenticator's.
    /// </summary>
    [Theory]
    [InlineData("content/read", "pull", "pull")]
    [InlineData("metadata/read", "pull", "pull")]
    [InlineData("content/write", "push", "pull,push")]
    [InlineData("metadata/write", "push", "pull,push")]
    [InlineData("content/delete", "delete", "delete")]
    public void A_registry_action_maps_to_one_docker_action_and_the_challenge_asks_for_what_covers_it(string action, string docker, string challenge)
    {
        Assert.Equal(docker, RegistryAuthenticator.DockerAction(action));
        Assert.Equal(challenge, RegistryAuthenticator.ChallengeActions(action));
        Assert.True(RegistryAuthenticator.TokenCovers([new TokenAccess("repository", "app", challenge.Split(','))], "app", action));
        Assert.False(RegistryAuthenticator.TokenCovers([new TokenAccess("repository", "app", new[] { "pull", "push", "delete" }.Where(a => a != docker).ToArray())], "app", action));
    }
}
