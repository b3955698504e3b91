using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Tests.Auth;

public class AuthRulesTests
{
    private static readonly string Hash = $"pbkdf2-sha256$100000${Convert.ToBase64String(new byte[16])}${Convert.ToBase64String(new byte[32])}";

    private static ClientTokenSettings Token(Dictionary<string, IReadOnlyList<string>> map) => new() { PasswordHash = Hash, ScopeMap = map };

    [Fact]
    public void Valid_token_has_no_errors()
    {
        Assert.Empty(AuthRules.ValidateClientToken("line-puller", Token(new() { ["factory/*"] = ["content/read", "metadata/read"], ["*"] = ["metadata/read"] })));
    }

    [Fact]
    public void More_than_20_tokens_are_refused()
    {
        var tokens = Enumerable.Range(0, 21).ToDictionary(i => $"token-{i:00}", _ => Token(new() { ["app"] = ["content/read"] }));
        Assert.Contains("clientTokens: 21 tokens defined; at most 20 are allowed", AuthRules.ValidateClientTokens(tokens));
        Assert.Empty(AuthRules.ValidateClientTokens(tokens.Take(20).ToDictionary()));
    }

    [Fact]
    public void More_than_500_repository_permissions_are_refused()
    {
        var map = Enumerable.Range(0, 501).ToDictionary(i => $"repo{i}", _ => (IReadOnlyList<string>)["content/read"]);
        Assert.Contains("clientTokens.big-token: the scope map has 501 repository permissions; at most 500 are allowed", AuthRules.ValidateClientToken("big-token", Token(map)));
        map.Remove("repo500");
        Assert.Empty(AuthRules.ValidateClientToken("big-token", Token(map)));
    }

    [Fact]
    public void Every_problem_is_reported_with_a_clear_reason()
    {
        var errors = AuthRules.ValidateClientToken("x y", new ClientTokenSettings
        {
            PasswordHash = "plain",
            ScopeMap = new Dictionary<string, IReadOnlyList<string>> { ["Bad Name"] = ["content/read"], ["ok"] = ["pull"], ["empty"] = [] },
        });
        Assert.Equal(
            [
                "clientTokens.x y: the name must be 1-50 letters, digits, '-' or '_', starting with a letter or digit",
                "clientTokens.x y: passwordHash is not a hash made by the 'token create' command",
                "clientTokens.x y: 'Bad Name' is not a repository name, 'prefix/*' or '*'",
                "clientTokens.x y: 'ok' has unknown action 'pull' (known: content/read, content/write, content/delete, metadata/read, metadata/write)",
                "clientTokens.x y: 'empty' has no actions",
            ],
            errors);
    }

    [Fact]
    public void ReadOnly_parent_refuses_a_ReadWrite_child()
    {
        var child = new ChildRegistrySettings { Mode = RegistryMode.ReadWrite, SyncTokenPasswordHash = Hash, Repositories = ["factory/*"] };
        Assert.Equal(["children.cell-three: a ReadOnly registry may only have ReadOnly children"], AuthRules.ValidateChild("cell-three", child, RegistryMode.ReadOnly));
        Assert.Empty(AuthRules.ValidateChild("cell-three", child, RegistryMode.ReadWrite));
    }

    [Fact]
    public void Child_repositories_are_names_or_prefix_wildcards_never_everything()
    {
        var child = new ChildRegistrySettings { Mode = RegistryMode.ReadOnly, SyncTokenPasswordHash = Hash, Repositories = ["*", "factory/*", "base", "Bad"] };
        Assert.Equal(
            ["children.cell-three: '*' is not a repository name or 'prefix/*'", "children.cell-three: 'Bad' is not a repository name or 'prefix/*'"],
            AuthRules.ValidateChild("cell-three", child, RegistryMode.ReadWrite));
    }

    [Theory]
    [InlineData("ci", true)]
    [InlineData("-ci", false)]
    [InlineData("line_puller-2", true)]
    public void Token_names_follow_the_twin_rule(string name, bool valid)
    {
        Assert.Equal(valid, AuthRules.IsValidTokenName(name));
    }

    [Theory]
    [InlineData("abcd", false)]
    [InlineData("abcde", true)]
    [InlineData("1abcd", false)]
    [InlineData("factory-line-1-cell-3", true)]
    [InlineData("has space", false)]
    [InlineData("has:colon", false)]
    public void Child_names_follow_registry_name_rules(string name, bool valid)
    {
        Assert.Equal(valid, AuthRules.IsValidRegistryName(name));
    }
}
