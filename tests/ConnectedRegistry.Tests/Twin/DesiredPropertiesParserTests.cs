using Microsoft.Extensions.Logging;
using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;

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
            "sync.schedule '* * * *' must be a 5-field cron expression (minute hour day month weekday)",
            "sync.window 'PT30M' must be a duration from PT1H to P7D, such as 01:00:00 or PT1H",
            "sync.messageTtl 'P91D' must be a duration from P1D to P90D, such as 2.00:00:00 or P2D",
            "sync.repositories[0] 'Factory' is not a repository name or a 'prefix/*' wildcard",
            "sync.repositories[2] 'bad/**' is not a repository name or a 'prefix/*' wildcard",
            "clientTokens.t1: passwordHash is not a hash made by the 'token create' command",
            "clientTokens.t1: 'repo' has unknown action 'content/fly' (known: content/read, content/write, content/delete, metadata/read, metadata/write)",
            "clientTokens.t1.status 'paused' must be enabled or disabled",
            "clientTokens.t1.expiry 'soon' must be an ISO-8601 date and time such as 2027-01-31T00:00:00Z",
            "clientTokens.t2: passwordHash is required (the hash 'token create' prints)",
            "clientTokens.t2: 'UPPER' is not a repository name, 'prefix/*' or '*'",
            "garbageCollection.enabled must be true or false",
            "garbageCollection.schedule 'every night' must be a 5-field cron expression (minute hour day month weekday)",
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
    [InlineData("abcd", false)]
    [InlineData("abcde", true)]
    [InlineData("a234567890123456789012345678901234567890", true)]
    [InlineData("a2345678901234567890123456789012345678901", false)]
    [InlineData("line_1-a", true)]
    [InlineData("line.1", false)]
    public void The_name_must_be_5_to_40_characters_starting_with_a_letter(string name, bool valid) =>
        Assert.Equal(valid, Parse($$"""{ "name": "{{name}}" }""").IsValid);

    [Fact]
    public void Wrong_types_are_reported_by_path()
    {
        var result = Parse("""{ "sync": [], "children": { "cell-one": "x" }, "name": 5 }""");
        Assert.Equal(["name must be a string", "sync must be an object", "children.cell-one must be an object"], result.Errors);
    }
}
