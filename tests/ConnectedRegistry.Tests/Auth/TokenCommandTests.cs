using System.Text.Json.Nodes;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;

namespace ConnectedRegistry.Tests.Auth;

public class TokenCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = TokenCommand.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Create_prints_one_json_object_with_the_password_and_the_twin_entry()
    {
        var (code, output, error) = Run("create", "--name", "line-puller", "--scope", "factory/*=content/read,metadata/read", "--scope", "tools=content/read", "--expiry", "2099-01-31T00:00:00Z", "--status", "disabled");
        Assert.Equal(0, code);
        Assert.Empty(error);
        var json = JsonNode.Parse(output)!.AsObject();
        Assert.Equal("line-puller", (string?)json["name"]);
        var password = (string)json["password"]!;
        Assert.True(password.Length >= 40);
        var entry = json["clientTokens"]!["line-puller"]!;
        Assert.True(PasswordHasher.Verify(password, (string?)entry["passwordHash"]));
        Assert.Equal("disabled", (string?)entry["status"]);
        Assert.Equal("2099-01-31T00:00:00Z", (string?)entry["expiry"]);
        Assert.Equal(["content/read", "metadata/read"], entry["scopeMap"]!["factory/*"]!.AsArray().Select(n => (string)n!));
        Assert.Equal(["content/read"], entry["scopeMap"]!["tools"]!.AsArray().Select(n => (string)n!));
    }

    [Fact]
    public void Each_run_makes_a_new_password()
    {
        var a = JsonNode.Parse(Run("create", "--name", "puller", "--scope", "*=content/read").Out)!["password"]!.ToString();
        var b = JsonNode.Parse(Run("create", "--name", "puller", "--scope", "*=content/read").Out)!["password"]!.ToString();
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Sync_makes_a_child_entry()
    {
        var (code, output, _) = Run("create", "--sync", "--name", "cell-three", "--mode", "ReadWrite", "--repository", "factory/*", "--repository", "base");
        Assert.Equal(0, code);
        var json = JsonNode.Parse(output)!;
        var child = json["children"]!["cell-three"]!;
        Assert.Equal("ReadWrite", (string?)child["mode"]);
        Assert.True(PasswordHasher.Verify((string)json["password"]!, (string?)child["syncTokenPasswordHash"]));
        Assert.Equal(["factory/*", "base"], child["repositories"]!.AsArray().Select(n => (string)n!));
        Assert.Null(child["platforms"]); // none named: the parent syncs every platform for it
    }

    [Fact]
    public void Sync_with_platforms_puts_them_in_the_child_entry()
    {
        var (code, output, _) = Run("create", "--sync", "--name", "cell-three", "--mode", "ReadOnly", "--repository", "factory/*", "--platform", "linux/arm64", "--platform", "linux/arm/v7");

        Assert.Equal(0, code);
        Assert.Equal(["linux/arm64", "linux/arm/v7"], JsonNode.Parse(output)!["children"]!["cell-three"]!["platforms"]!.AsArray().Select(n => (string)n!));
    }

    [Theory]
    [InlineData("create", "--scope", "*=content/read")]
    [InlineData("create", "--name", "puller")]
    [InlineData("create", "--name", "puller", "--scope", "*")]
    [InlineData("create", "--name", "puller", "--scope", "*=pull")]
    [InlineData("create", "--name", "puller", "--scope", "Repo=content/read")]
    [InlineData("create", "--name", "pu ller", "--scope", "*=content/read")]
    [InlineData("create", "--sync", "--name", "cell-three", "--mode", "ReadOnly", "--repository", "*")]
    [InlineData("create", "--name", "puller", "--scope", "*=content/read", "--status", "on")]
    [InlineData("create", "--name", "puller", "--scope", "*=content/read", "--expiry", "tomorrow")]
    [InlineData("create", "--name", "puller", "--scope", "*=content/read", "--expiry", "2001-01-01T00:00:00Z")]
    [InlineData("create", "--name", "puller", "--scope", "*=content/read", "--bogus", "x")]
    [InlineData("create", "--name", "puller", "--scope")]
    [InlineData("create", "--sync", "--name", "cell-three", "--repository", "a")]
    [InlineData("create", "--sync", "--name", "cell-three", "--mode", "readwrite", "--repository", "a")]
    [InlineData("create", "--sync", "--name", "cell-three", "--mode", "ReadOnly")]
    [InlineData("create", "--sync", "--name", "3cell", "--mode", "ReadOnly", "--repository", "a")]
    [InlineData("create", "--sync", "--name", "cell-three", "--mode", "ReadOnly", "--repository", "a", "--scope", "*=content/read")]
    [InlineData("create", "--sync", "--name", "cell-three", "--mode", "ReadOnly", "--repository", "a", "--platform", "arm64")]
    [InlineData("create", "--name", "puller", "--scope", "*=content/read", "--platform", "linux/arm64")]
    [InlineData("delete", "--name", "puller")]
    [InlineData]
    public void Bad_arguments_exit_2_with_a_message_on_stderr_and_nothing_on_stdout(params string[] args)
    {
        var (code, output, error) = Run(args);
        Assert.Equal(2, code);
        Assert.Empty(output);
        Assert.Contains("--help", error, StringComparison.Ordinal); // where the usage is
    }

    [Fact]
    public void A_bad_expiry_is_refused_in_the_words_of_the_twin_and_an_offset_is_written_as_UTC()
    {
        var (_, _, error) = Run("create", "--name", "puller", "--scope", "*=content/read", "--expiry", "soon");
        Assert.Contains($"--expiry 'soon' must be {SettingRules.Instant.Takes}", error, StringComparison.Ordinal);
        var twin = DesiredPropertiesParser.Parse(TwinJson.ParseObject("""{ "clientTokens": { "puller": { "passwordHash": "h", "scopeMap": { "*": ["content/read"] }, "expiry": "soon" } } }"""));
        Assert.Contains($"clientTokens.puller.expiry 'soon' must be {SettingRules.Instant.Takes}", twin.Errors);

        var (code, output, _) = Run("create", "--name", "puller", "--scope", "*=content/read", "--expiry", "2099-01-31T02:00:00+02:00");
        Assert.Equal(0, code);
        Assert.Equal("2099-01-31T00:00:00Z", (string?)JsonNode.Parse(output)!["clientTokens"]!["puller"]!["expiry"]);
    }

    [Fact]
    public void Bad_scope_message_names_the_problem()
    {
        var (_, _, error) = Run("create", "--name", "puller", "--scope", "app=content/rd");
        Assert.Contains("'app' has unknown action 'content/rd'", error, StringComparison.Ordinal);
    }
}
