using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;

namespace ConnectedRegistry.Tests.Twin;

/// <summary><c>sync</c> in the desired properties: its schedule, window, message TTL, on-demand fetch and parent idle timeout.</summary>
public class SyncParserTests
{
    private static DesiredParseResult Parse(string json) => DesiredPropertiesParser.Parse(TwinJson.ParseObject(json));

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
            Assert.Equal([$"sync.window '{window}' must be a duration from PT1H to P7D, such as 01:00:00 or PT1H"], result.Errors);
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
}
