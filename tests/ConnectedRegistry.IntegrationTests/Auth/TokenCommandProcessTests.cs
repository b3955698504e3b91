using System.Net;
using System.Text.Json.Nodes;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using static ConnectedRegistry.IntegrationTests.Infrastructure.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

/// <summary>The built module executable's <c>token</c> command, run as an operator would run it.</summary>
public class TokenCommandProcessTests
{
    // no web host: the command returns by itself
    private static Task<(int Exit, string StandardOutput, string StandardError)> RunAsync(params string[] args) =>
        Tools.RunModuleAsync(args, limit: TimeSpan.FromSeconds(60));

    [Fact]
    public async Task Output_of_the_executable_pasted_into_the_settings_signs_in_with_the_oauth_post()
    {
        var (code, output, error) = await RunAsync("token", "create", "--name", "line-puller", "--scope", "factory/*=content/read,metadata/read");
        Assert.Equal(0, code);
        Assert.Equal("", error);
        var json = JsonNode.Parse(output)!.AsObject();
        var entry = json["clientTokens"]!["line-puller"]!;
        var token = new ClientTokenSettings
        {
            PasswordHash = (string)entry["passwordHash"]!,
            ScopeMap = entry["scopeMap"]!.AsObject().ToDictionary(p => p.Key, p => (IReadOnlyList<string>)[.. p.Value!.AsArray().Select(a => (string)a!)]),
            Enabled = (string?)entry["status"] == "enabled",
        };

        await using var registry = await AuthTestRegistry.StartAsync(With(tokens: new() { ["line-puller"] = token }));
        using var response = await registry.Client.PostAsync("/oauth2/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "password",
            ["username"] = "line-puller",
            ["password"] = (string)json["password"]!,
            ["scope"] = "repository:factory/line:pull",
        }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("repository:factory/line:pull", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["scope"]);
    }

    [Fact]
    public async Task Bad_arguments_exit_2_with_the_reason_on_stderr()
    {
        var (code, output, error) = await RunAsync("token", "create", "--name", "line-puller", "--scope", "factory/*=content/readd");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("unknown action 'content/readd'", error, StringComparison.Ordinal);
    }
}
