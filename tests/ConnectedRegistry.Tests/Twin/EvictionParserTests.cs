using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Twin;

/// <summary><c>storage.evictBelowFreeBytes</c> and <c>storage.pinPulledWithin</c>: defaults, values taken, and every bad value rejected with its reason.</summary>
public class EvictionParserTests
{
    private static DesiredParseResult Parse(JObject storage) =>
        DesiredPropertiesParser.Parse(new JObject { ["name"] = "site-registry", ["storage"] = storage });

    [Fact]
    public void Without_the_members_the_mark_follows_the_minimum_and_seven_days_are_pinned()
    {
        var result = DesiredPropertiesParser.Parse(new JObject { ["name"] = "site-registry" });

        Assert.Empty(result.Errors);
        Assert.Null(result.Settings!.Storage.EvictBelowFreeBytes);
        Assert.Equal(TimeSpan.FromDays(7), result.Settings.Storage.PinPulledWithin);
        Assert.Equal(StorageSettings.DefaultPinPulledWithin, result.Settings.Storage.PinPulledWithin);
    }

    [Fact]
    public void A_mark_and_a_pin_are_taken_with_the_minimum()
    {
        var result = Parse(new JObject { ["minFreeBytes"] = 1_000_000, ["evictBelowFreeBytes"] = 5_000_000, ["pinPulledWithin"] = "P2DT12H" });

        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        Assert.Equal(1_000_000, result.Settings!.Storage.MinFreeBytes);
        Assert.Equal(5_000_000, result.Settings.Storage.EvictBelowFreeBytes);
        Assert.Equal(TimeSpan.FromHours(60), result.Settings.Storage.PinPulledWithin);
    }

    [Fact]
    public void Null_members_mean_the_defaults()
    {
        var result = Parse(new JObject { ["evictBelowFreeBytes"] = null, ["pinPulledWithin"] = null });

        Assert.Empty(result.Errors);
        Assert.Null(result.Settings!.Storage.EvictBelowFreeBytes);
        Assert.Equal(TimeSpan.FromDays(7), result.Settings.Storage.PinPulledWithin);
    }

    [Fact]
    public void Every_bad_value_is_rejected_with_its_reason()
    {
        Assert.Equal(
            ["storage.evictBelowFreeBytes '-1' must be a whole number of bytes of at least 0", "storage.pinPulledWithin 'seven days' must be a duration from PT1S to P3650D, such as 7.00:00:00 or P7D"],
            Parse(new JObject { ["evictBelowFreeBytes"] = -1, ["pinPulledWithin"] = "seven days" }).Errors);
        Assert.Equal(
            ["storage.evictBelowFreeBytes '1.5' must be a whole number of bytes of at least 0", "storage.pinPulledWithin must be a string"],
            Parse(new JObject { ["evictBelowFreeBytes"] = 1.5, ["pinPulledWithin"] = 7 }).Errors);
        Assert.Equal(
            ["storage.evictBelowFreeBytes '\"lots\"' must be a whole number of bytes of at least 0", "storage.pinPulledWithin 'P3651D' must be a duration from PT1S to P3650D, such as 7.00:00:00 or P7D"],
            Parse(new JObject { ["evictBelowFreeBytes"] = "lots", ["pinPulledWithin"] = "P3651D" }).Errors);
        Assert.Equal(
            ["storage.pinPulledWithin '-P1D' must be a duration from PT1S to P3650D, such as 7.00:00:00 or P7D"],
            Parse(new JObject { ["pinPulledWithin"] = "-P1D" }).Errors);

        // A month reads as 30 days, as the start-up options always read it (SettingRules.Duration).
        Assert.Equal(TimeSpan.FromDays(30), Parse(new JObject { ["pinPulledWithin"] = "P1M" }).Settings!.Storage.PinPulledWithin);
    }

    [Fact]
    public void A_mark_below_the_minimum_is_rejected_since_writes_would_be_refused_before_eviction_starts()
    {
        var result = Parse(new JObject { ["minFreeBytes"] = 2048, ["evictBelowFreeBytes"] = 1024 });

        Assert.Null(result.Settings);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("storage.evictBelowFreeBytes 1024 is below storage.minFreeBytes 2048: eviction must start before writes are refused", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_storage_member_that_is_no_object_is_said_once()
    {
        var result = DesiredPropertiesParser.Parse(new JObject { ["name"] = "site-registry", ["storage"] = "big" });

        Assert.Equal(["storage must be an object"], result.Errors);
    }
}
