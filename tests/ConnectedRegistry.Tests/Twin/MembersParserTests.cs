using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Twin;

/// <summary>The members of a desired document against the schema: case variants and look-alikes of security members are errors, unknown members warnings.</summary>
public class MembersParserTests
{
    [Fact]
    public void A_member_that_differs_from_a_known_one_only_by_case_is_rejected_naming_both()
    {
        var result = DesiredPropertiesParser.Parse(TwinJson.ParseObject("""
        { "name": "factory-line-1",
          "ClientTokens": { "admin": { "passwordHash": "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=", "scopeMap": { "*": ["content/write"] } } },
          "sync": { "Repositories": ["factory/*"] } }
        """));

        Assert.False(result.IsValid);
        Assert.Equal(
            [
                "'ClientTokens' is not a member; did you mean 'clientTokens'? (member names are case-sensitive)",
                "'sync.Repositories' is not a member; did you mean 'sync.repositories'? (member names are case-sensitive)",
            ],
            result.Errors);
    }

    [Theory]
    [InlineData("clientToken", "clientTokens")]
    [InlineData("client_tokens", "clientTokens")]
    [InlineData("client-tokens", "clientTokens")]
    [InlineData("client\u200BTokens", "clientTokens")] // a zero-width space
    [InlineData("\u0441lientTokens", "clientTokens")] // a Cyrillic es
    [InlineData("clientT\u043Ekens", "clientTokens")] // a Cyrillic o
    [InlineData("\uFF43\uFF4C\uFF49\uFF45\uFF4E\uFF54\uFF34\uFF4F\uFF4B\uFF45\uFF4E\uFF53", "clientTokens")] // full width
    [InlineData("clinetTokens", "clientTokens")]
    [InlineData("tokens_client", null)]
    [InlineData("mdoe", "mode")]
    [InlineData("anonymous_pull", "anonymousPull")]
    [InlineData("chlidren", "children")]
    public void An_unknown_top_level_member_that_looks_like_a_security_member_rejects_the_document(string name, string? member)
    {
        var doc = new JObject { ["name"] = "factory-line-1", [name] = new JObject() };

        var result = DesiredPropertiesParser.Parse(doc);

        if (member is null)
        {
            Assert.True(result.IsValid); // not alike: still a warning, as a newer minor schema wants
            Assert.Equal([name], result.Warnings);
            return;
        }

        Assert.False(result.IsValid);
        var reason = Assert.Single(result.Errors);
        Assert.Equal($"'{MemberLikeness.Visible(name)}' is not a member but looks like the security member '{member}': the document is rejected rather than applied without it", reason);
        Assert.DoesNotContain('\u200B', reason); // an invisible character is shown, not hidden in the reason
    }

    [Theory]
    [InlineData("clientTokens", "stauts", "clientTokens.puller.status")]
    [InlineData("clientTokens", "expires", "clientTokens.puller.expiry")]
    [InlineData("clientTokens", "scope_map", "clientTokens.puller.scopeMap")]
    [InlineData("children", "repositores", "children.cell-three.repositories")]
    [InlineData("children", "m\u043Ede", "children.cell-three.mode")]
    public void An_unknown_member_of_a_token_or_child_that_looks_like_a_security_member_rejects_the_document(string map, string name, string member)
    {
        const string hash = "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=";
        var entry = map == "clientTokens"
            ? new JObject { ["passwordHash"] = hash, ["scopeMap"] = new JObject { ["a"] = new JArray("content/read") } }
            : new JObject { ["syncTokenPasswordHash"] = hash, ["repositories"] = new JArray("a") };
        entry[name] = "x";
        var owner = map == "clientTokens" ? "puller" : "cell-three";

        var result = DesiredPropertiesParser.Parse(new JObject { [map] = new JObject { [owner] = entry } });

        Assert.Contains($"looks like the security member '{member}'", Assert.Single(result.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_members_are_applied_and_listed_as_warnings()
    {
        var result = DesiredPropertiesParser.Parse(TwinJson.ParseObject("""
        { "name": "factory-line-1", "futureFeature": { "on": true }, "sync": { "repositories": ["a"], "batchSize": 4 },
          "clientTokens": { "puller": { "passwordHash": "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=", "scopeMap": { "a": ["content/read"] }, "note": "x" } } }
        """));

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        Assert.Equal(["futureFeature", "sync.batchSize", "clientTokens.puller.note"], result.Warnings);
        Assert.Equal(["a"], result.Settings!.Sync.Repositories);
    }

    [Fact]
    public void Every_documented_member_is_known_and_draws_no_warning()
    {
        var result = DesiredPropertiesParser.Parse(TwinJson.ParseObject("""
        { "schemaVersion": "1.0", "name": "factory-line-1", "mode": "ReadOnly", "logLevel": "Information", "anonymousPull": false,
          "parent": { "endpoint": "https://parent.example:8000", "syncTokenName": "sync" },
          "sync": { "schedule": "*/5 * * * *", "window": "PT2H", "messageTtl": "P7D", "repositories": ["a"], "onDemand": true,
                    "bandwidth": { "limitMbps": 20 }, "platforms": ["linux/arm64"], "filters": [], "parentIdleTimeout": "PT45S" },
          "garbageCollection": { "enabled": true, "schedule": "0 3 * * *", "deleteUntaggedManifests": false },
          "notifications": ["a:push"], "storage": { "minFreeBytes": 1048576 } }
        """));

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        Assert.Empty(result.Warnings);
        Assert.Equal(1048576, result.Settings!.Storage.MinFreeBytes);
    }
}
