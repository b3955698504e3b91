using Microsoft.Extensions.Logging;
using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Twin;

public class DesiredPropertiesParserTests
{
    private static DesiredParseResult Parse(string json) => DesiredPropertiesParser.Parse(TwinJson.ParseObject(json));

    [Fact]
    public void The_architecture_example_parses_into_settings()
    {
        var result = Parse("""
        {
          "schemaVersion": "1.0",
          "name": "factory-line-1",
          "mode": "ReadWrite",
          "parent": { "endpoint": "https://contoso.example", "syncTokenName": "factory-line-1-sync" },
          "sync": { "schedule": "0 */2 * * *", "window": "PT3H", "messageTtl": "P2D", "repositories": ["azureiotedge-agent", "factory/*"] },
          "clientTokens": {
            "line-puller": { "passwordHash": "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=", "scopeMap": { "factory/*": ["content/read", "metadata/read"] }, "status": "enabled", "expiry": "2030-01-02T03:04:05Z" }
          },
          "children": { "factory-line-1-cell-3": { "mode": "ReadOnly", "syncTokenPasswordHash": "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=", "repositories": ["factory/*"] } },
          "garbageCollection": { "enabled": false, "schedule": "0 3 * * *" },
          "anonymousPull": true,
          "logLevel": "debug",
          "$version": 7
        }
        """);

        Assert.Empty(result.Errors);
        var s = result.Settings!;
        Assert.Equal("factory-line-1", s.Name);
        Assert.Equal(RegistryMode.ReadWrite, s.Mode);
        Assert.Equal(new Uri("https://contoso.example"), s.Parent!.Endpoint);
        Assert.Equal("factory-line-1-sync", s.Parent.SyncTokenName);
        Assert.Equal("0 */2 * * *", s.Sync.Schedule);
        Assert.Equal(TimeSpan.FromHours(3), s.Sync.Window);
        Assert.Equal(TimeSpan.FromDays(2), s.Sync.MessageTtl);
        Assert.Equal(["azureiotedge-agent", "factory/*"], s.Sync.Repositories);
        var token = s.ClientTokens["line-puller"];
        Assert.Equal("pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=", token.PasswordHash);
        Assert.True(token.Enabled);
        Assert.Equal(new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero), token.Expiry);
        Assert.Equal(["content/read", "metadata/read"], token.ScopeMap["factory/*"]);
        Assert.Equal(RegistryMode.ReadOnly, s.Children["factory-line-1-cell-3"].Mode);
        Assert.False(s.GarbageCollection.Enabled);
        Assert.True(s.AnonymousPull);
        Assert.Equal("Debug", s.LogLevel);
        Assert.Equal(LogLevel.Debug, result.ExplicitLogLevel);
    }

    [Fact]
    public void An_empty_document_gives_the_defaults()
    {
        var result = Parse("{}");
        var s = result.Settings!;
        var d = RegistrySettings.Default;
        Assert.Equal((d.Name, d.Mode, d.Parent, d.Sync.Schedule, d.Sync.Window, d.Sync.MessageTtl, d.GarbageCollection, d.AnonymousPull, d.LogLevel),
            (s.Name, s.Mode, s.Parent, s.Sync.Schedule, s.Sync.Window, s.Sync.MessageTtl, s.GarbageCollection, s.AnonymousPull, s.LogLevel));
        Assert.Empty(s.Sync.Repositories);
        Assert.Empty(s.ClientTokens);
        Assert.Empty(s.Children);
        Assert.Null(result.ExplicitLogLevel);
    }

    [Fact]
    public void Every_error_is_reported_with_its_exact_message()
    {
        var result = Parse("""
        {
          "name": "1abc",
          "mode": "Sideways",
          "parent": { "endpoint": "ftp://parent.example" },
          "sync": { "schedule": "* * * *", "window": "PT30M", "messageTtl": "P91D", "repositories": ["Factory", "ok/*", "bad/**"] },
          "clientTokens": {
            "t1": { "passwordHash": "secret-hash-value", "scopeMap": { "repo": ["content/read", "content/fly"] }, "status": "paused", "expiry": "soon" },
            "t2": { "scopeMap": { "UPPER": ["content/read"] } }
          },
          "garbageCollection": { "enabled": "yes", "schedule": "every night" },
          "anonymousPull": "true",
          "logLevel": "Loud"
        }
        """);

        Assert.Null(result.Settings);
        Assert.Equal(
        [
            "name '1abc' must be 5 to 40 characters, start with a letter and contain only letters, digits, '-' or '_'",
            "mode 'Sideways' must be ReadWrite or ReadOnly",
            "parent.endpoint must be an absolute http or https URL",
            "sync.schedule '* * * *' is not a valid 5-field cron expression",
            "sync.window 'PT30M' must be an ISO-8601 duration from PT1H to P7D",
            "sync.messageTtl 'P91D' must be an ISO-8601 duration from P1D to P90D",
            "sync.repositories[0] 'Factory' is not a repository name or a 'prefix/*' wildcard",
            "sync.repositories[2] 'bad/**' is not a repository name or a 'prefix/*' wildcard",
            "clientTokens.t1: passwordHash is not a hash made by the 'token create' command",
            "clientTokens.t1: 'repo' has unknown action 'content/fly' (known: content/read, content/write, content/delete, metadata/read, metadata/write)",
            "clientTokens.t1.status 'paused' must be enabled or disabled",
            "clientTokens.t1.expiry must be an ISO-8601 date and time",
            "clientTokens.t2: passwordHash is required (the hash 'token create' prints)",
            "clientTokens.t2: 'UPPER' is not a repository name, 'prefix/*' or '*'",
            "garbageCollection.enabled must be true or false",
            "garbageCollection.schedule 'every night' is not a valid 5-field cron expression",
            "anonymousPull must be true or false",
            "logLevel 'Loud' must be one of Trace, Debug, Information, Warning, Error, Critical, None",
        ], result.Errors);
        Assert.DoesNotContain(result.Errors, e => e.Contains("secret-hash-value", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("2.0")]
    [InlineData("0.9")]
    public void An_unknown_major_schema_version_is_rejected(string version)
    {
        var result = Parse($$"""{ "schemaVersion": "{{version}}", "mode": "Nonsense" }""");
        Assert.Equal([$"schemaVersion '{version}' is not supported (this module reads 1.x)"], result.Errors);
    }

    [Fact]
    public void A_newer_minor_schema_version_is_read()
    {
        var result = Parse("""{ "schemaVersion": "1.7", "mode": "ReadOnly", "futureFeature": { "x": 1 } }""");
        Assert.Equal(RegistryMode.ReadOnly, result.Settings!.Mode);
        Assert.Equal("1.7", result.Settings.SchemaVersion);
    }

    [Theory]
    [InlineData("PT59M", false)]
    [InlineData("PT1H", true)]
    [InlineData("P1DT12H", true)]
    [InlineData("P7D", true)]
    [InlineData("P7DT1M", false)]
    [InlineData("P1M", false)]
    [InlineData("3h", false)]
    public void The_sync_window_must_be_between_one_hour_and_seven_days(string window, bool valid)
    {
        var result = Parse($$"""{ "sync": { "window": "{{window}}" } }""");
        Assert.Equal(valid, result.IsValid);
        if (!valid)
        {
            Assert.Equal([$"sync.window '{window}' must be an ISO-8601 duration from PT1H to P7D"], result.Errors);
        }
    }

    [Theory]
    [InlineData("{}", true)]
    [InlineData("""{ "sync": { "onDemand": null } }""", true)]
    [InlineData("""{ "sync": { "onDemand": true } }""", true)]
    [InlineData("""{ "sync": { "onDemand": false } }""", false)]
    public void On_demand_fetch_is_on_unless_sync_on_demand_is_false(string json, bool expected)
    {
        var result = Parse(json);
        Assert.Empty(result.Errors);
        Assert.Equal(expected, result.Settings!.Sync.OnDemand);
    }

    [Theory]
    [InlineData("\"false\"")]
    [InlineData("0")]
    [InlineData("{}")]
    public void Sync_on_demand_must_be_a_boolean_and_the_document_is_rejected_otherwise(string value)
    {
        var result = Parse($$"""{ "sync": { "onDemand": {{value}}, "messageTtl": "P91D" } }""");
        Assert.False(result.IsValid);
        Assert.Contains("sync.onDemand must be true or false", result.Errors);
        Assert.Equal(2, result.Errors.Count); // every reason is reported
    }

    [Theory]
    [InlineData("PT23H", false)]
    [InlineData("P1D", true)]
    [InlineData("P90D", true)]
    [InlineData("P91D", false)]
    public void The_message_ttl_must_be_between_one_and_ninety_days(string ttl, bool valid) =>
        Assert.Equal(valid, Parse($$"""{ "sync": { "messageTtl": "{{ttl}}" } }""").IsValid);

    [Theory]
    [InlineData("{}", 30)]
    [InlineData("""{ "sync": { "parentIdleTimeout": null } }""", 30)]
    [InlineData("""{ "sync": { "parentIdleTimeout": "PT1S" } }""", 1)]
    [InlineData("""{ "sync": { "parentIdleTimeout": "PT2M" } }""", 120)]
    [InlineData("""{ "sync": { "parentIdleTimeout": "PT1H" } }""", 3600)]
    public void The_parent_idle_timeout_is_thirty_seconds_unless_the_twin_sets_one(string json, int seconds)
    {
        var result = Parse(json);
        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        Assert.Equal(TimeSpan.FromSeconds(seconds), result.Settings!.Sync.ParentIdleTimeout);
    }

    [Theory]
    [InlineData("\"PT0.5S\"")]
    [InlineData("\"PT61M\"")]
    [InlineData("\"30\"")]
    [InlineData("30")]
    public void A_parent_idle_timeout_outside_one_second_to_one_hour_rejects_the_document(string value)
    {
        var result = Parse($$"""{ "sync": { "parentIdleTimeout": {{value}} } }""");
        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.StartsWith("sync.parentIdleTimeout", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("* * * * *", true)]
    [InlineData("*/5 1-3 * * MON-FRI", true)]
    [InlineData("0 0 * * * *", false)]
    [InlineData("61 * * * *", false)]
    [InlineData("", false)]
    public void Schedules_must_be_five_field_cron(string schedule, bool valid) =>
        Assert.Equal(valid, Parse($$"""{ "sync": { "schedule": "{{schedule}}" } }""").IsValid);

    [Theory]
    [InlineData("abcd", false)]
    [InlineData("abcde", true)]
    [InlineData("a234567890123456789012345678901234567890", true)]
    [InlineData("a2345678901234567890123456789012345678901", false)]
    [InlineData("line_1-a", true)]
    [InlineData("line.1", false)]
    public void The_name_must_be_5_to_40_characters_starting_with_a_letter(string name, bool valid) =>
        Assert.Equal(valid, Parse($$"""{ "name": "{{name}}" }""").IsValid);

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
    public void A_read_only_registry_may_only_have_read_only_children()
    {
        var result = Parse("""
        { "mode": "ReadOnly", "children": {
            "cell-one": { "mode": "ReadWrite", "syncTokenPasswordHash": "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=", "repositories": ["a"] },
            "cell-two": { "syncTokenPasswordHash": "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=", "repositories": ["a"] } } }
        """);
        Assert.Equal(["children.cell-one: a ReadOnly registry may only have ReadOnly children"], result.Errors);
    }

    [Fact]
    public void Trusted_realm_hosts_are_host_names_kept_once_in_lower_case_and_none_by_default()
    {
        var result = Parse("""{ "parent": { "endpoint": "https://myregistry.example", "trustedRealmHosts": ["Auth.Example", "auth.example", "10.1.2.3", "[fd00::1]"] } }""");
        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        Assert.Equal(["auth.example", "10.1.2.3", "[fd00::1]"], result.Settings!.Parent!.TrustedRealmHosts);
        Assert.Empty(Parse("""{ "parent": { "endpoint": "https://myregistry.example" } }""").Settings!.Parent!.TrustedRealmHosts);
    }

    [Theory]
    [InlineData("\"auth.example\"", "parent.trustedRealmHosts must be an array of strings")]
    [InlineData("[\"https://auth.example\"]", "parent.trustedRealmHosts: 'https://auth.example' is not a host name (no scheme, port, path or wildcard)")]
    [InlineData("[\"auth.example:443\"]", "parent.trustedRealmHosts: 'auth.example:443' is not a host name (no scheme, port, path or wildcard)")]
    [InlineData("[\"*.example\"]", "parent.trustedRealmHosts: '*.example' is not a host name (no scheme, port, path or wildcard)")]
    [InlineData("[\"\"]", "parent.trustedRealmHosts: '' is not a host name (no scheme, port, path or wildcard)")]
    public void A_trusted_realm_host_that_is_not_a_host_name_is_an_error(string hosts, string error)
    {
        var result = Parse($$"""{ "parent": { "endpoint": "https://myregistry.example", "trustedRealmHosts": {{hosts}} } }""");
        Assert.Equal([error], result.Errors);
    }

    [Fact]
    public void A_parent_endpoint_with_credentials_is_rejected_without_echoing_them()
    {
        var result = Parse("""{ "parent": { "endpoint": "https://user:hunter2@parent.example" } }""");
        Assert.Equal(["parent.endpoint must not contain credentials (the sync token password comes from the environment)"], result.Errors);
        Assert.DoesNotContain("hunter2", string.Join(" ", result.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_types_are_reported_by_path()
    {
        var result = Parse("""{ "sync": [], "children": { "cell-one": "x" }, "name": 5 }""");
        Assert.Equal(["name must be a string", "sync must be an object", "children.cell-one must be an object"], result.Errors);
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

public class ParentHostPlaceholderTests
{
    [Theory]
    [InlineData("https://$IOTEDGE_PARENTHOSTNAME:8000")]
    [InlineData("https://$upstream:8000")]
    public void A_nested_parent_endpoint_resolves_the_parent_host_name(string endpoint)
    {
        var doc = new Newtonsoft.Json.Linq.JObject { ["mode"] = "ReadOnly", ["parent"] = new Newtonsoft.Json.Linq.JObject { ["endpoint"] = endpoint } };

        var result = DesiredPropertiesParser.Parse(doc, name => name == "IOTEDGE_PARENTHOSTNAME" ? "top-layer-device" : null);

        Assert.Equal(new Uri("https://top-layer-device:8000"), result.Settings!.Parent!.Endpoint);
    }

    [Fact]
    public void A_nested_parent_endpoint_on_a_device_without_a_parent_is_an_error()
    {
        var doc = new Newtonsoft.Json.Linq.JObject { ["parent"] = new Newtonsoft.Json.Linq.JObject { ["endpoint"] = "https://$IOTEDGE_PARENTHOSTNAME:8000" } };

        Assert.Equal(["parent.endpoint uses $IOTEDGE_PARENTHOSTNAME but IOTEDGE_PARENTHOSTNAME is not set (the device is not a nested IoT Edge device)"], DesiredPropertiesParser.Parse(doc, _ => null).Errors);
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
