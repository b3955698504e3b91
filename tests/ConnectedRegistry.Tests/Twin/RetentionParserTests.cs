using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConnectedRegistry.Tests.Twin;

/// <summary><c>storage.retention</c> in the desired properties: what is accepted, and every reason a bad rule is not.</summary>
public class RetentionParserTests
{
    private static DesiredParseResult Parse(string retention) =>
        DesiredPropertiesParser.Parse(TwinJson.ParseObject($$"""{ "storage": { "minFreeBytes": 1000, "retention": {{retention}} } }"""));

    [Fact]
    public void Rules_parse_with_every_member_and_keep_their_order()
    {
        var result = Parse("""
            [
              { "repositories": ["factory/*", "tools", "factory/*"], "keepNewest": 10, "keepPulledWithin": "P30D", "keepTags": "^(latest|stable)$", "untaggedAfter": "P7D" },
              { "repositories": ["*"], "untaggedAfter": "PT1H" }
            ]
            """);

        Assert.Empty(result.Errors);
        Assert.Equal(1000, result.Settings!.Storage.MinFreeBytes);
        var rules = result.Settings.Storage.Retention.Rules;
        Assert.Equal(2, rules.Count);
        Assert.Equal(new RetentionRule
        {
            Repositories = rules[0].Repositories, KeepNewest = 10, KeepPulledWithin = TimeSpan.FromDays(30), KeepTags = "^(latest|stable)$", UntaggedAfter = TimeSpan.FromDays(7),
        }, rules[0]);
        Assert.Equal(["factory/*", "tools"], rules[0].Repositories);
        Assert.True(rules[0].DecidesTags);
        Assert.False(rules[1].DecidesTags);
        Assert.Equal(TimeSpan.FromHours(1), rules[1].UntaggedAfter);
    }

    [Fact]
    public void Without_retention_there_are_no_rules()
    {
        Assert.Empty(DesiredPropertiesParser.Parse(TwinJson.ParseObject("""{ "storage": { "minFreeBytes": 5 } }""")).Settings!.Storage.Retention.Rules);
        Assert.Empty(DesiredPropertiesParser.Parse(TwinJson.ParseObject("{}")).Settings!.Storage.Retention.Rules);
        Assert.Empty(Parse("null").Settings!.Storage.Retention.Rules);
        Assert.Empty(Parse("[]").Settings!.Storage.Retention.Rules);
    }

    [Fact]
    public void A_bad_retention_is_rejected_with_every_reason()
    {
        var result = Parse("""
            [
              "keep",
              { "keepNewest": 3 },
              { "repositories": ["Factory/*", 7], "keepNewest": 0 },
              { "repositories": ["a"], "keepNewest": "3", "keepPulledWithin": "P11Y", "untaggedAfter": "PT5M" },
              { "repositories": ["a"], "keepNewest": 100001, "keepPulledWithin": "PT30S", "untaggedAfter": "P3651D" },
              { "repositories": ["a"], "keepTags": "(" },
              { "repositories": ["a"], "keepTags": "" },
              { "repositories": ["a"] },
              { "repositories": ["a"], "KeepNewest": 3 }
            ]
            """);

        Assert.Null(result.Settings);
        Assert.Equal(
        [
            "storage.retention[0] must be an object",
            "storage.retention[1].repositories is required: an array of repository names or patterns ('prefix/*', '*')",
            "storage.retention[2].repositories[0] 'Factory/*' is not a repository name, a 'prefix/*' wildcard or '*'",
            "storage.retention[2].repositories[1] '7' is not a repository name, a 'prefix/*' wildcard or '*'",
            "storage.retention[2].keepNewest '0' must be a whole number from 1 to 100000",
            "storage.retention[3].keepNewest '\"3\"' must be a whole number from 1 to 100000",
            "storage.retention[3].keepPulledWithin 'P11Y' must be a duration from PT1M to P3650D, such as 30.00:00:00 or P30D",
            "storage.retention[3].untaggedAfter 'PT5M' must be a duration from PT1H to P3650D, such as 7.00:00:00 or P7D",
            "storage.retention[4].keepNewest '100001' must be a whole number from 1 to 100000",
            "storage.retention[4].keepPulledWithin 'PT30S' must be a duration from PT1M to P3650D, such as 30.00:00:00 or P30D",
            "storage.retention[4].untaggedAfter 'P3651D' must be a duration from PT1H to P3650D, such as 7.00:00:00 or P7D",
            result.Errors[11],
            "storage.retention[6].keepTags must not be empty (leave it out to keep no tag by name)",
            "storage.retention[7] needs at least one of keepNewest, keepPulledWithin, keepTags or untaggedAfter (a rule with none would decide nothing)",
            "'storage.retention[8].KeepNewest' is not a member; did you mean 'storage.retention[8].keepNewest'? (member names are case-sensitive)",
            "storage.retention[8] needs at least one of keepNewest, keepPulledWithin, keepTags or untaggedAfter (a rule with none would decide nothing)",
        ], result.Errors);
        Assert.StartsWith("storage.retention[5].keepTags '(' is not a valid regular expression: ", result.Errors[11]);
    }

    [Fact]
    public void Retention_must_be_a_list_of_at_most_100_rules_and_an_unknown_member_of_a_rule_is_a_warning()
    {
        Assert.Equal(["storage.retention must be an array of retention rules"], Parse("""{ "repositories": ["a"], "keepNewest": 1 }""").Errors);
        var many = "[" + string.Join(",", Enumerable.Repeat("""{ "repositories": ["a"], "keepNewest": 1 }""", 101)) + "]";
        Assert.Equal(["storage.retention has 101 entries; at most 100 are allowed"], Parse(many).Errors);

        var unknown = Parse("""[{ "repositories": ["a"], "keepNewest": 1, "keepOldest": 2 }]""");
        Assert.Empty(unknown.Errors);
        Assert.Equal(["storage.retention[0].keepOldest"], unknown.Warnings);
        Assert.Equal(1, unknown.Settings!.Storage.Retention.Rules[0].KeepNewest);
    }

    [Fact]
    public void A_rejected_retention_leaves_the_last_good_rules_running()
    {
        var store = new RegistrySettingsStore();
        var pipeline = new DesiredPropertiesPipeline(store, NullLogger<DesiredPropertiesPipeline>.Instance, new LogLevelSwitch(), state: new ModuleState());
        pipeline.ApplyFull(TwinJson.ParseObject("""{ "storage": { "retention": [{ "repositories": ["factory/*"], "keepNewest": 5 }] } }"""), 1);
        var good = store.Current;

        var status = pipeline.ApplyPatch(TwinJson.ParseObject("""{ "storage": { "retention": [{ "repositories": ["factory/*"], "keepNewest": -1 }] } }"""), 2);

        Assert.Equal(400, status.Code);
        Assert.Equal("rejected, the last good settings stay in force: storage.retention[0].keepNewest '-1' must be a whole number from 1 to 100000", status.Description);
        Assert.Same(good, store.Current);
        Assert.Equal(5, store.Current.Storage.Retention.Rules[0].KeepNewest);
    }
}
