using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Tests.Auth;

public class ScopeMapTests
{
    [Theory]
    [InlineData("*", "anything", true)]
    [InlineData("*", "a/b/c", true)]
    [InlineData("factory/*", "factory/line", true)]
    [InlineData("factory/*", "factory/line/cell", true)]
    [InlineData("factory/*", "factory", false)]
    [InlineData("factory/*", "factoryx/line", false)]
    [InlineData("factory/*", "other/factory/line", false)]
    [InlineData("app", "app", true)]
    [InlineData("app", "app/sub", false)]
    [InlineData("app", "ap", false)]
    public void Patterns_match_exact_names_prefixes_and_everything(string pattern, string repository, bool matches)
    {
        Assert.True(RepositoryPattern.TryParse(pattern, out var parsed));
        Assert.Equal(matches, parsed.Matches(repository));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Upper")]
    [InlineData("a/**")]
    [InlineData("*/x")]
    [InlineData("a*")]
    [InlineData("/*")]
    [InlineData("a//b")]
    public void Invalid_patterns_are_refused(string pattern)
    {
        Assert.False(RepositoryPattern.TryParse(pattern, out _));
    }

    [Fact]
    public void Permissions_add_up_across_matching_patterns()
    {
        var map = ScopeMap.FromScopeMap(new Dictionary<string, IReadOnlyList<string>>
        {
            ["*"] = [RegistryActions.MetadataRead],
            ["factory/*"] = [RegistryActions.ContentRead],
            ["factory/line"] = [RegistryActions.ContentWrite],
        });

        Assert.True(map.Allows("factory/line", RegistryActions.MetadataRead));
        Assert.True(map.Allows("factory/line", RegistryActions.ContentRead));
        Assert.True(map.Allows("factory/line", RegistryActions.ContentWrite));
        Assert.False(map.Allows("factory/line", RegistryActions.ContentDelete));
        Assert.True(map.Allows("factory/other", RegistryActions.ContentRead));
        Assert.False(map.Allows("factory/other", RegistryActions.ContentWrite));
        Assert.True(map.Allows("elsewhere", RegistryActions.MetadataRead));
        Assert.False(map.Allows("elsewhere", RegistryActions.ContentRead));
    }

    [Fact]
    public void Unknown_actions_grant_nothing()
    {
        var map = ScopeMap.FromScopeMap(new Dictionary<string, IReadOnlyList<string>> { ["*"] = ["content/everything"] });
        Assert.All(RegistryActions.All, a => Assert.False(map.Allows("x", a)));
    }

    [Fact]
    public void ReadOnly_child_reads_its_repositories_only()
    {
        var map = ScopeMap.ForChild(new ChildRegistrySettings { Mode = RegistryMode.ReadOnly, SyncTokenPasswordHash = "h", Repositories = ["factory/*", "base"] });
        Assert.True(map.Allows("factory/a", RegistryActions.ContentRead));
        Assert.True(map.Allows("base", RegistryActions.MetadataRead));
        Assert.False(map.Allows("factory/a", RegistryActions.ContentWrite));
        Assert.False(map.Allows("other", RegistryActions.ContentRead));
        Assert.False(map.Allows("base", RegistryActions.ContentDelete));
    }

    [Fact]
    public void ReadWrite_child_also_writes_its_repositories_but_never_deletes()
    {
        var map = ScopeMap.ForChild(new ChildRegistrySettings { Mode = RegistryMode.ReadWrite, SyncTokenPasswordHash = "h", Repositories = ["factory/*"] });
        Assert.True(map.Allows("factory/a", RegistryActions.ContentWrite));
        Assert.True(map.Allows("factory/a", RegistryActions.MetadataWrite));
        Assert.False(map.Allows("factory/a", RegistryActions.ContentDelete));
        Assert.False(map.Allows("other", RegistryActions.ContentWrite));
    }

    [Fact]
    public void Granted_docker_scopes_are_the_intersection_of_requested_and_allowed()
    {
        var identity = new RegistryIdentity("t", IdentityKind.ClientToken, "h", ScopeMap.FromScopeMap(new Dictionary<string, IReadOnlyList<string>>
        {
            ["factory/*"] = [RegistryActions.ContentRead, RegistryActions.MetadataRead],
            ["factory/line"] = [RegistryActions.ContentWrite],
        }));

        var granted = RegistryAuthenticator.Grant(identity, open: false, [
            "repository:factory/line:pull,push,delete",
            "repository:factory/other:pull,push repository:secret:pull",
            "registry:catalog:*",
            "garbage",
        ]);

        Assert.Equal(["pull", "push"], granted.Single(a => a.Name == "factory/line").Actions);
        Assert.Equal(["pull"], granted.Single(a => a.Name == "factory/other").Actions);
        Assert.DoesNotContain(granted, a => a.Name == "secret");
        Assert.Contains(granted, a => a.Type == "registry" && a.Name == "catalog");
    }

    [Fact]
    public void Anonymous_gets_pull_but_never_push_or_catalog()
    {
        var granted = RegistryAuthenticator.Grant(RegistryIdentity.Anonymous, open: false, ["repository:any/thing:*", "registry:catalog:*"]);
        var single = Assert.Single(granted);
        Assert.Equal(["pull"], single.Actions);
    }
}
