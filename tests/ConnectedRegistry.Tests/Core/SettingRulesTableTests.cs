using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.Configuration;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Core;

/// <summary>
/// One table of setting values, run through the twin's parser (the twin and the standalone desired file) and through
/// the start-up reader (the command line and the environment): each value is accepted by both, read to the same value,
/// or refused by both for the same reason, "must be" and what the rule takes. Both read the value through the same rule
/// of <see cref="SettingRules"/>. Before, a duration of the twin was ISO 8601 only ("an ISO-8601 duration from PT1H to
/// P7D") while a start-up option also took 01:00:00 and P1M, a whole number of the tuning sections that was not one was
/// "a whole number" without its range, and bytes were "from 0 to 9223372036854775807" in the twin and "of at least 1024"
/// at start.
/// </summary>
public class SettingRulesTableTests
{
    /// <summary>A twin member: where the value goes in a document, where the parsed settings hold it, and its rule as the start-up reader reads it.</summary>
    public sealed record Member(string Path, Func<JToken, JObject> Document, Func<RegistrySettings, object?> Parsed, Func<IConfiguration, StartupOption, object?> AtStart, string Takes);

    /// <summary>A value as the twin writes it (<paramref name="Json"/>) and as an option is given (<paramref name="Text"/>); <paramref name="Accepted"/> or refused.</summary>
    public sealed record Row(Member Member, string Text, JToken Json, bool Accepted)
    {
        public override string ToString() => $"{Member.Path} {Json.ToString(Newtonsoft.Json.Formatting.None)} {(Accepted ? "accepted" : "refused")}";
    }

    private static JObject At(string section, string member, JToken value) => new() { [section] = new JObject { [member] = value } };

    private static readonly Member Window = new("sync.window", v => At("sync", "window", v), s => s.Sync.Window,
        (c, o) => StartupConfiguration.Read<TimeSpan?>(c, o, null, Nullable(DesiredPropertiesParser.WindowRule)),
        "a duration from PT1H to P7D, such as 01:00:00 or PT1H");

    private static readonly Member PinPulledWithin = new("storage.pinPulledWithin", v => At("storage", "pinPulledWithin", v), s => s.Storage.PinPulledWithin,
        (c, o) => StartupConfiguration.Read(c, o, TimeSpan.Zero, DesiredPropertiesParser.PinPulledWithinRule),
        "a duration from PT1S to P3650D, such as 7.00:00:00 or P7D");

    private static readonly Member ParentIdleTimeout = new("sync.parentIdleTimeout", v => At("sync", "parentIdleTimeout", v), s => s.Sync.ParentIdleTimeout,
        (c, o) => StartupConfiguration.Read(c, o, TimeSpan.Zero, DesiredPropertiesParser.ParentIdleTimeoutRule),
        "a duration from PT1S to PT1H, such as 00:00:30 or PT30S");

    private static readonly Member KeepNewest = new("storage.retention[0].keepNewest",
        v => new JObject { ["storage"] = new JObject { ["retention"] = new JArray(new JObject { ["repositories"] = new JArray("a"), ["keepNewest"] = v }) } },
        s => (long?)s.Storage.Retention.Rules[0].KeepNewest,
        (c, o) => StartupConfiguration.Read(c, o, 0L, SettingRules.WholeNumber(1, RetentionSettings.MaxKeepNewest)),
        "a whole number from 1 to 100000");

    private static readonly Member MinFreeBytes = new("storage.minFreeBytes", v => At("storage", "minFreeBytes", v), s => s.Storage.MinFreeBytes,
        (c, o) => StartupConfiguration.Read(c, o, 0L, DesiredPropertiesParser.FreeBytesRule),
        "a whole number of bytes of at least 0");

    private static readonly Member OnDemand = new("sync.onDemand", v => At("sync", "onDemand", v), s => s.Sync.OnDemand,
        (c, o) => StartupConfiguration.Flag(c, o, fallback: false), "true or false");

    private static readonly Member LimitMbps = new("sync.bandwidth.limitMbps",
        v => new JObject { ["sync"] = new JObject { ["bandwidth"] = new JObject { ["limitMbps"] = v } } }, s => s.Sync.Bandwidth.LimitMbps,
        (c, o) => StartupConfiguration.Read(c, o, 0d, DesiredPropertiesParser.MbpsRule),
        "a number of megabits per second above 0, from 0.008 to 100000");

    private static readonly Member Schedule = new("sync.schedule", v => At("sync", "schedule", v), s => s.Sync.Schedule,
        (c, o) => StartupConfiguration.Read(c, o, "", SettingRules.Cron),
        "a 5-field cron expression (minute hour day month weekday)");

    private static readonly Member Expiry = new("clientTokens.t.expiry",
        v => new JObject { ["clientTokens"] = new JObject { ["t"] = new JObject { ["passwordHash"] = Hash, ["scopeMap"] = new JObject { ["a"] = new JArray("content/read") }, ["expiry"] = v } } },
        s => s.ClientTokens["t"].Expiry,
        (c, o) => StartupConfiguration.Read(c, o, DateTimeOffset.MinValue, SettingRules.Instant),
        "an ISO-8601 date and time such as 2027-01-31T00:00:00Z");

    private const string Hash = "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=";

    public static TheoryData<Row> Table() =>
    [
        new(Window, "PT1H", "PT1H", true),
        new(Window, "01:00:00", "01:00:00", true),
        new(Window, "P1DT12H", "P1DT12H", true),
        new(Window, "1.12:00:00", "1.12:00:00", true),
        new(Window, "P7D", "P7D", true),
        new(Window, "PT59M", "PT59M", false),
        new(Window, "00:59:00", "00:59:00", false),
        new(Window, "P7DT1M", "P7DT1M", false),
        new(Window, "P1M", "P1M", false), // 30 days
        new(Window, "3h", "3h", false),
        new(Window, "-PT2H", "-PT2H", false),
        new(PinPulledWithin, "P1M", "P1M", true),
        new(PinPulledWithin, "P1Y", "P1Y", true),
        new(PinPulledWithin, "P11Y", "P11Y", false),
        new(PinPulledWithin, "0", "0", false),
        new(PinPulledWithin, "PT0S", "PT0S", false),
        new(ParentIdleTimeout, "00:00:30", "00:00:30", true),
        new(ParentIdleTimeout, "PT1H", "PT1H", true),
        new(ParentIdleTimeout, "PT0.5S", "PT0.5S", false),
        new(ParentIdleTimeout, "PT1H1S", "PT1H1S", false),
        new(KeepNewest, "1", 1, true),
        new(KeepNewest, "100000", 100000, true),
        new(KeepNewest, "0", 0, false),
        new(KeepNewest, "-3", -3, false),
        new(KeepNewest, "100001", 100001, false),
        new(KeepNewest, "2.5", 2.5, false),
        new(KeepNewest, "99999999999999999999", JToken.Parse("99999999999999999999"), false),
        new(MinFreeBytes, "0", 0, true),
        new(MinFreeBytes, "9223372036854775807", long.MaxValue, true),
        new(MinFreeBytes, "9223372036854775808", JToken.Parse("9223372036854775808"), false),
        new(MinFreeBytes, "-1", -1, false),
        new(MinFreeBytes, "1.5", 1.5, false),
        new(OnDemand, "true", true, true),
        new(OnDemand, "false", false, true),
        new(LimitMbps, "0.008", 0.008, true),
        new(LimitMbps, "1.5", 1.5, true),
        new(LimitMbps, "100000", 100000, true),
        new(LimitMbps, "0", 0, false),
        new(LimitMbps, "0.001", 0.001, false),
        new(LimitMbps, "100001", 100001, false),
        new(Schedule, "*/5 * * * *", "*/5 * * * *", true),
        new(Schedule, "0 3 * * 1-5", "0 3 * * 1-5", true),
        new(Schedule, "0 3 * *", "0 3 * *", false),
        new(Schedule, "0 0 3 * * *", "0 0 3 * * *", false),
        new(Expiry, "2027-01-31T00:00:00Z", "2027-01-31T00:00:00Z", true),
        new(Expiry, "2027-01-31T02:00:00+02:00", "2027-01-31T02:00:00+02:00", true),
        new(Expiry, "2027-01-31", "2027-01-31", true), // midnight UTC
        new(Expiry, "soon", "soon", false),
        new(Expiry, "2027-13-01T00:00:00Z", "2027-13-01T00:00:00Z", false),
    ];

    [Theory]
    [MemberData(nameof(Table))]
    public void The_twin_parser_judges_the_value_as_the_table_says(Row row)
    {
        var result = DesiredPropertiesParser.Parse(row.Member.Document(row.Json));

        if (row.Accepted)
        {
            Assert.True(result.IsValid, string.Join("; ", result.Errors));
            Assert.Equal(Expected(row), row.Member.Parsed(result.Settings!));
        }
        else
        {
            var written = row.Json.Type == JTokenType.String ? row.Json.Value<string>() : row.Json.ToString(Newtonsoft.Json.Formatting.None);
            Assert.Equal([$"{row.Member.Path} '{written}' must be {row.Member.Takes}"], result.Errors);
        }
    }

    [Theory]
    [MemberData(nameof(Table))]
    public void The_start_up_reader_judges_the_value_as_the_table_says_on_the_command_line_and_in_the_environment(Row row)
    {
        var option = new StartupOption("table-setting", "REGISTRY_TABLE_SETTING");
        foreach (var key in new[] { option.Name, option.Variable })
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = row.Text }).Build();
            if (row.Accepted)
            {
                Assert.Equal(Expected(row), row.Member.AtStart(configuration, option));
            }
            else
            {
                var error = Assert.ThrowsAny<StartupException>(() => row.Member.AtStart(configuration, option));
                Assert.Equal($"{option} must be {row.Member.Takes}, got '{row.Text}'.", error.Message);
            }
        }
    }

    [Fact]
    public void The_twin_and_the_start_up_options_say_what_a_value_takes_in_one_pattern()
    {
        // The start-up options read their durations and counts through the same rules, their default as the example.
        Assert.Equal("a duration such as 01:00:00 or PT1H", SettingRules.Duration(TimeSpan.Zero, SettingRules.NoMaximum, TimeSpan.FromHours(1)).Takes);
        Assert.Equal("a duration of at least PT1M, such as 30.00:00:00 or P30D", SettingRules.Duration(TimeSpan.FromMinutes(1), SettingRules.NoMaximum, TimeSpan.FromDays(30)).Takes);
        Assert.Equal("a duration longer than zero, such as 00:00:10 or PT10S", SettingRules.DurationAboveZero(TimeSpan.FromSeconds(10)).Takes);
        Assert.Equal("a whole number from 1 to 64", SettingRules.WholeNumber(1, 64).Takes);
        Assert.Equal("a whole number of at least 1", SettingRules.WholeNumber(1).Takes);
        Assert.Equal("a whole number of bytes of at least 1024", SettingRules.Bytes(1024).Takes);
    }

    /// <summary>The value the table's text stands for, as the settings hold it.</summary>
    private static object? Expected(Row row) => row.Member.AtStart(
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["table-setting"] = row.Text }).Build(),
        new StartupOption("table-setting", "REGISTRY_TABLE_SETTING"));

    private static SettingRule<TimeSpan?> Nullable(SettingRule<TimeSpan> rule) =>
        new(rule.Takes, (string text, out TimeSpan? value) =>
        {
            var read = rule.TryRead(text, out var span);
            value = span;
            return read;
        });
}
