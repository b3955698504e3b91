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
        Assert.Equal(["storage.retention must be an array of retention rules"], Parse("\"keep\"").Errors);
        Assert.Equal(["storage.retention has the rule member 'repositories': it is a list of rules, or an object {rules, maxRemovalsPerPass} whose rules are that list"], Parse("""{ "repositories": ["a"], "keepNewest": 1 }""").Errors);
        var many = "[" + string.Join(",", Enumerable.Repeat("""{ "repositories": ["a"], "keepNewest": 1 }""", 101)) + "]";
        Assert.Equal(["storage.retention has 101 entries; at most 100 are allowed"], Parse(many).Errors);

        var unknown = Parse("""[{ "repositories": ["a"], "keepNewest": 1, "keepOldest": 2 }]""");
        Assert.Empty(unknown.Errors);
        Assert.Equal(["storage.retention[0].keepOldest"], unknown.Warnings);
        Assert.Equal(1, unknown.Settings!.Storage.Retention.Rules[0].KeepNewest);
    }

    [Fact]
    public void The_rules_may_come_in_an_object_with_maxRemovalsPerPass_and_the_list_alone_keeps_the_default_bound()
    {
        Assert.Equal(RetentionSettings.DefaultMaxRemovalsPerPass, Parse("""[{ "repositories": ["a"], "keepNewest": 1 }]""").Settings!.Storage.Retention.MaxRemovalsPerPass);
        Assert.Equal(10_000, RetentionSettings.DefaultMaxRemovalsPerPass);

        var both = Parse("""{ "rules": [{ "repositories": ["a"], "keepNewest": 1 }], "maxRemovalsPerPass": 250 }""");
        Assert.Empty(both.Errors);
        Assert.Empty(both.Warnings);
        Assert.Equal(250, both.Settings!.Storage.Retention.MaxRemovalsPerPass);
        Assert.Equal(1, Assert.Single(both.Settings.Storage.Retention.Rules).KeepNewest);

        var boundOnly = Parse("""{ "maxRemovalsPerPass": 1000000 }""").Settings!.Storage.Retention;
        Assert.Empty(boundOnly.Rules);
        Assert.Equal(1_000_000, boundOnly.MaxRemovalsPerPass);

        var unknown = Parse("""{ "rules": [], "maxRemovalsPerPas": 5 }""");
        Assert.Empty(unknown.Errors);
        Assert.Equal(["storage.retention.maxRemovalsPerPas"], unknown.Warnings);
    }

    [Fact]
    public void A_bad_maxRemovalsPerPass_or_rule_in_the_object_is_rejected_with_its_path()
    {
        var result = Parse("""{ "rules": [{ "repositories": ["a"], "keepNewest": 0 }, 5], "maxRemovalsPerPass": 0 }""");
        Assert.Null(result.Settings);
        Assert.Equal(
        [
            "storage.retention.maxRemovalsPerPass '0' must be a whole number from 1 to 1000000",
            "storage.retention.rules[0].keepNewest '0' must be a whole number from 1 to 100000",
            "storage.retention.rules[1] must be an object",
        ], result.Errors);

        foreach (var bad in new[] { "1000001", "2.5", "\"100\"", "-1", "true" })
        {
            var refused = Parse($$"""{ "maxRemovalsPerPass": {{bad}} }""");
            Assert.Equal([$"storage.retention.maxRemovalsPerPass '{bad}' must be a whole number from 1 to 1000000"], refused.Errors);
        }

        Assert.Equal(["storage.retention.rules must be an array of retention rules"], Parse("""{ "rules": { "repositories": ["a"] } }""").Errors);
        Assert.Equal(["'storage.retention.MaxRemovalsPerPass' is not a member; did you mean 'storage.retention.maxRemovalsPerPass'? (member names are case-sensitive)"],
            Parse("""{ "rules": [], "MaxRemovalsPerPass": 5 }""").Errors);
    }

    [Fact]
    public void A_rejected_maxRemovalsPerPass_leaves_the_last_good_bound_running()
    {
        var store = new RegistrySettingsStore();
        var pipeline = new DesiredPropertiesPipeline(store, NullLogger<DesiredPropertiesPipeline>.Instance, new LogLevelSwitch(), state: new ModuleState());
        pipeline.ApplyFull(TwinJson.ParseObject("""{ "storage": { "retention": { "rules": [{ "repositories": ["factory/*"], "keepNewest": 5 }], "maxRemovalsPerPass": 300 } } }"""), 1);
        var good = store.Current;
        Assert.Equal(300, good.Storage.Retention.MaxRemovalsPerPass);

        var status = pipeline.ApplyPatch(TwinJson.ParseObject("""{ "storage": { "retention": { "maxRemovalsPerPass": 0 } } }"""), 2);

        Assert.Equal(400, status.Code);
        Assert.Equal("rejected, the last good settings stay in force: storage.retention.maxRemovalsPerPass '0' must be a whole number from 1 to 1000000", status.Description);
        Assert.Same(good, store.Current);

        // A patch of the bound alone merges into the object: the rules stay.
        Assert.Equal(200, pipeline.ApplyPatch(TwinJson.ParseObject("""{ "storage": { "retention": { "maxRemovalsPerPass": 50 } } }"""), 3).Code);
        Assert.Equal(50, store.Current.Storage.Retention.MaxRemovalsPerPass);
        Assert.Equal(5, Assert.Single(store.Current.Storage.Retention.Rules).KeepNewest);
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
