using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Twin;

/// <summary><c>clientTokens</c> in the desired properties: the limits, the scope map and the hashes, judged as <c>token create</c> judges them.</summary>
public class ClientTokensParserTests
{
    private static DesiredParseResult Parse(string json) => DesiredPropertiesParser.Parse(TwinJson.ParseObject(json));

    [Fact]
    public void At_most_20_client_tokens_are_allowed()
    {
        var tokens = new JObject();
        for (var i = 0; i < 21; i++)
        {
            tokens[$"token{i}"] = new JObject { ["passwordHash"] = "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=", ["scopeMap"] = new JObject { ["repo"] = new JArray("content/read") } };
        }

        var result = DesiredPropertiesParser.Parse(new JObject { ["clientTokens"] = tokens });
        Assert.Equal(["clientTokens: 21 tokens defined; at most 20 are allowed"], result.Errors);

        tokens.Remove("token20");
        Assert.True(DesiredPropertiesParser.Parse(new JObject { ["clientTokens"] = tokens }).IsValid);
    }

    [Fact]
    public void At_most_500_repository_permissions_per_scope_map_are_allowed()
    {
        var map = new JObject();
        for (var i = 0; i < 501; i++)
        {
            map[$"repo{i}"] = new JArray("content/read");
        }

        var doc = new JObject { ["clientTokens"] = new JObject { ["big"] = new JObject { ["passwordHash"] = "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=", ["scopeMap"] = map } } };
        Assert.Equal(["clientTokens.big: the scope map has 501 repository permissions; at most 500 are allowed"], DesiredPropertiesParser.Parse(doc).Errors);

        map.Remove("repo500");
        Assert.True(DesiredPropertiesParser.Parse(doc).IsValid);
    }

    [Fact]
    public void The_scope_map_accepts_the_star_pattern_and_every_known_action()
    {
        var result = Parse("""
        { "clientTokens": { "admin": { "passwordHash": "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=", "status": "disabled",
            "scopeMap": { "*": ["content/read", "content/write", "content/delete", "metadata/read", "metadata/write"] } } } }
        """);
        var token = result.Settings!.ClientTokens["admin"];
        Assert.False(token.Enabled);
        Assert.Equal(RegistryActions.All, token.ScopeMap["*"]);
    }

    [Fact]
    public void A_password_hash_not_made_by_the_token_command_is_rejected_with_its_path()
    {
        var doc = Newtonsoft.Json.Linq.JObject.Parse("""
        { "clientTokens": { "puller": { "passwordHash": "$2y$05$vxzqtVnKUd8lx8kWT0SL5.A8Pc6Odj0G98Vg7GiRuod3PV3o3x6zi", "scopeMap": { "a": ["content/read"] } } },
          "children": { "cell-three": { "syncTokenPasswordHash": "plain-text-password", "repositories": ["a"] } } }
        """);

        Assert.Equal(
        [
            "clientTokens.puller: passwordHash is not a hash made by the 'token create' command",
            "children.cell-three: syncTokenPasswordHash is not a hash made by the 'token create --sync' command",
        ], DesiredPropertiesParser.Parse(doc).Errors);
    }
}
