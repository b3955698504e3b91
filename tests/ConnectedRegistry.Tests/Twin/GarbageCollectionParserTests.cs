using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;

namespace ConnectedRegistry.Tests.Twin;

/// <summary><c>garbageCollection</c> in the desired properties: whether and when it runs, and whether untagged manifests go too.</summary>
public class GarbageCollectionParserTests
{
    private static DesiredParseResult Parse(string json) => DesiredPropertiesParser.Parse(TwinJson.ParseObject(json));

    [Theory]
    [InlineData("{}")]
    [InlineData("""{ "garbageCollection": null }""")]
    [InlineData("""{ "garbageCollection": {} }""")]
    public void Without_members_it_runs_daily_at_three_and_keeps_untagged_manifests(string json)
    {
        var result = Parse(json);

        Assert.Empty(result.Errors);
        Assert.Equal(new GarbageCollectionSettings { Enabled = true, Schedule = "0 3 * * *", DeleteUntaggedManifests = false }, result.Settings!.GarbageCollection);
    }

    [Fact]
    public void Its_members_are_read_and_the_schedule_trimmed()
    {
        var result = Parse("""{ "garbageCollection": { "enabled": false, "schedule": " 30 1 * * SUN ", "deleteUntaggedManifests": true } }""");

        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        Assert.Equal(new GarbageCollectionSettings { Enabled = false, Schedule = "30 1 * * SUN", DeleteUntaggedManifests = true }, result.Settings!.GarbageCollection);
    }

    [Fact]
    public void Every_bad_member_is_its_own_reason()
    {
        var result = Parse("""{ "garbageCollection": { "enabled": "no", "schedule": "daily", "deleteUntaggedManifests": 1 } }""");

        Assert.Equal(
        [
            "garbageCollection.enabled must be true or false",
            "garbageCollection.schedule 'daily' must be a 5-field cron expression (minute hour day month weekday)",
            "garbageCollection.deleteUntaggedManifests must be true or false",
        ], result.Errors);
    }
}
