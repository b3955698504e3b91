using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;

namespace ConnectedRegistry.Tests.Twin;

/// <summary><c>sync.bandwidth</c> in the desired properties: what is accepted, and every reason a bad one is not.</summary>
public class BandwidthParserTests
{
    private static DesiredParseResult Parse(string bandwidth) =>
        DesiredPropertiesParser.Parse(TwinJson.ParseObject($$"""{ "sync": { "repositories": ["factory/*"], "bandwidth": {{bandwidth}} } }"""));

    [Fact]
    public void The_issue_example_parses_into_a_flat_cap_and_a_working_day_schedule()
    {
        var result = Parse("""{"limitMbps": 20, "schedules": [{"cron": "0 7 * * 1-5", "duration": "PT11H", "limitMbps": 2}]}""");

        Assert.Empty(result.Errors);
        var bandwidth = result.Settings!.Sync.Bandwidth;
        Assert.Equal(20, bandwidth.LimitMbps);
        Assert.Equal([new BandwidthSchedule("0 7 * * 1-5", TimeSpan.FromHours(11), 2)], bandwidth.Schedules);
    }

    [Fact]
    public void A_member_of_bandwidth_nobody_knows_is_a_warning_and_a_case_variant_rejects_the_document()
    {
        // A misspelt cap used to vanish without a word: the link ran uncapped and nothing said why.
        var unknown = Parse("""{"limitMbs": 2}""");
        Assert.Empty(unknown.Errors);
        Assert.Null(unknown.Settings!.Sync.Bandwidth.LimitMbps);
        Assert.Equal(["sync.bandwidth.limitMbs"], unknown.Warnings);

        var cased = Parse("""{"LimitMbps": 2}""");
        Assert.Null(cased.Settings);
        Assert.Equal(["'sync.bandwidth.LimitMbps' is not a member; did you mean 'sync.bandwidth.limitMbps'? (member names are case-sensitive)"], cased.Errors);
    }

    [Fact]
    public void Without_bandwidth_there_is_no_cap()
    {
        var result = DesiredPropertiesParser.Parse(TwinJson.ParseObject("""{ "sync": { "repositories": ["a"] } }"""));

        Assert.Equal(BandwidthSettings.Unlimited, result.Settings!.Sync.Bandwidth);
        Assert.Null(result.Settings.Sync.Bandwidth.LimitMbps);
        Assert.Empty(result.Settings.Sync.Bandwidth.Schedules);
    }

    [Fact]
    public void Schedules_alone_cap_only_inside_their_windows_and_fractions_are_kept()
    {
        var result = Parse("""{"schedules": [{"cron": "30 8 * * *", "duration": "PT30M", "limitMbps": 0.5}]}""");

        Assert.Empty(result.Errors);
        Assert.Null(result.Settings!.Sync.Bandwidth.LimitMbps);
        Assert.Equal(0.5, result.Settings.Sync.Bandwidth.Schedules[0].LimitMbps);
    }

    [Fact]
    public void A_bad_bandwidth_is_rejected_with_every_reason()
    {
        var result = Parse("""
        {"limitMbps": 0, "schedules": [
          {"cron": "0 7 * *", "duration": "PT11H", "limitMbps": 2},
          {"cron": "0 7 * * *", "duration": "P8D", "limitMbps": -1},
          {"cron": "0 7 * * *", "duration": "11 hours", "limitMbps": "2"},
          {"limitMbps": 200000},
          "0 7 * * *"
        ]}
        """);

        Assert.Null(result.Settings);
        Assert.Equal(
        [
            "sync.bandwidth.limitMbps '0' must be a number of megabits per second above 0, from 0.008 to 100000",
            "sync.bandwidth.schedules[0].cron '0 7 * *' must be a 5-field cron expression (minute hour day month weekday)",
            "sync.bandwidth.schedules[1].duration 'P8D' must be a duration from PT1M to P7D, such as 01:00:00 or PT1H",
            "sync.bandwidth.schedules[1].limitMbps '-1' must be a number of megabits per second above 0, from 0.008 to 100000",
            "sync.bandwidth.schedules[2].duration '11 hours' must be a duration from PT1M to P7D, such as 01:00:00 or PT1H",
            "sync.bandwidth.schedules[2].limitMbps '\"2\"' must be a number of megabits per second above 0, from 0.008 to 100000",
            "sync.bandwidth.schedules[3].cron is required",
            "sync.bandwidth.schedules[3].duration is required",
            "sync.bandwidth.schedules[3].limitMbps '200000' must be a number of megabits per second above 0, from 0.008 to 100000",
            "sync.bandwidth.schedules[4] must be an object",
        ],
        result.Errors);
    }

    [Theory]
    [InlineData("\"20\"", "sync.bandwidth must be an object")]
    [InlineData("{\"schedules\": {}}", "sync.bandwidth.schedules must be an array")]
    [InlineData("{\"limitMbps\": 99999999999999999999999999}", "sync.bandwidth.limitMbps '99999999999999999999999999' must be a number of megabits per second above 0, from 0.008 to 100000")]
    public void Wrong_shapes_and_overflowing_numbers_are_reasons_not_crashes(string bandwidth, string error)
    {
        var result = Parse(bandwidth);

        Assert.Null(result.Settings);
        Assert.Equal([error], result.Errors);
    }

    [Fact]
    public void Too_many_schedules_are_rejected()
    {
        var one = """{"cron": "0 7 * * *", "duration": "PT1H", "limitMbps": 2}""";
        var result = Parse($$"""{"schedules": [{{string.Join(",", Enumerable.Repeat(one, DesiredPropertiesParser.MaxBandwidthSchedules + 1))}}]}""");

        Assert.Equal(["sync.bandwidth.schedules has 21 entries; at most 20 are allowed"], result.Errors);
    }
}
