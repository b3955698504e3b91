using System.Globalization;
using System.Xml;
using Cronos;

namespace ConnectedRegistry.Core;

/// <summary>
/// A kind of setting value with its bounds: how its text is read (<see cref="TryRead"/>) and what it takes, the end of
/// the one reason every refusal gives, "must be <see cref="Takes"/>" (<c>a whole number from 1 to 64</c>, <c>a duration
/// from PT1H to P7D, such as 01:00:00 or PT1H</c>). Made by <see cref="SettingRules"/>.
/// </summary>
public sealed class SettingRule<T>(string takes, StartupConfiguration.Parser<T> read)
{
    /// <summary>What the setting takes, completing "must be …".</summary>
    public string Takes { get; } = takes;

    /// <summary>Reads <paramref name="text"/>; false when it is not a value of the setting (out of its bounds too).</summary>
    public bool TryRead(string text, out T value) => read(text, out value);

    public override string ToString() => Takes;
}

/// <summary>
/// The one set of value rules every setting is read with, whatever it comes from: the start-up options of the command
/// line and the environment (<see cref="StartupConfiguration"/>) and the members of the twin's desired properties or the
/// standalone desired file (the twin's parser, one section per file). A value is accepted or refused by the same rule
/// the same way, with the same reason: "must be" and the rule's <see cref="SettingRule{T}.Takes"/>. The twin's JSON
/// type is its own first check (a count is a JSON number, a switch a JSON boolean, a duration a JSON string); the value
/// it holds is then read here as its text.
/// </summary>
public static class SettingRules
{
    /// <summary>No upper bound on a duration.</summary>
    public static readonly TimeSpan NoMaximum = TimeSpan.MaxValue;

    /// <summary>A whole number from <paramref name="minimum"/> to <paramref name="maximum"/> ("a whole number of at least 1" when the maximum is the largest of its type).</summary>
    public static SettingRule<long> WholeNumber(long minimum, long maximum = int.MaxValue) =>
        new(WholeNumberText(minimum, maximum, null), (string text, out long value) => TryWhole(text, minimum, maximum, out value));

    /// <summary>A count of bytes from <paramref name="minimum"/> to <paramref name="maximum"/>.</summary>
    public static SettingRule<long> Bytes(long minimum, long maximum = long.MaxValue) =>
        new(WholeNumberText(minimum, maximum, "bytes"), (string text, out long value) => TryWhole(text, minimum, maximum, out value));

    /// <summary>"a whole number of at least 1", "a whole number from 1 to 64", "a whole number of bytes of at least 0".</summary>
    public static string WholeNumberText(long minimum, long maximum, string? unit)
    {
        var of = unit is null ? "a whole number" : $"a whole number of {unit}";
        return maximum >= int.MaxValue
            ? $"{of} of at least {minimum.ToString(CultureInfo.InvariantCulture)}"
            : $"{of} from {minimum.ToString(CultureInfo.InvariantCulture)} to {maximum.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>
    /// A duration from <paramref name="minimum"/> to <paramref name="maximum"/> (<see cref="NoMaximum"/>: no bound),
    /// given as a time span (<c>1.00:00:00</c>, <c>00:30:00</c>) or in ISO 8601 (<c>P1D</c>, <c>PT30M</c>; a month is
    /// 30 days and a year 365, as <see cref="XmlConvert"/> reads them); <paramref name="example"/> is shown both ways.
    /// </summary>
    public static SettingRule<TimeSpan> Duration(TimeSpan minimum, TimeSpan maximum, TimeSpan example)
    {
        var bounds = (minimum > TimeSpan.Zero, maximum != NoMaximum) switch
        {
            (_, true) => $" from {Iso(minimum)} to {Iso(maximum)},",
            (true, false) => $" of at least {Iso(minimum)},",
            _ => "",
        };
        return new($"a duration{bounds} such as {Example(example)}",
            (string text, out TimeSpan value) => TryDuration(text, out value) && value >= minimum && value <= maximum);
    }

    /// <summary>A duration longer than zero (a timer's interval), read as <see cref="Duration"/> reads it.</summary>
    public static SettingRule<TimeSpan> DurationAboveZero(TimeSpan example) =>
        new($"a duration longer than zero, such as {Example(example)}", (string text, out TimeSpan value) => TryDuration(text, out value) && value > TimeSpan.Zero);

    /// <summary>true or false (also 1/0 and yes/no, in any case).</summary>
    public static readonly SettingRule<bool> Flag = new("true or false", TryFlag);

    /// <summary>A number from <paramref name="minimum"/> to <paramref name="maximum"/> of megabits per second.</summary>
    public static SettingRule<double> Megabits(double minimum, double maximum) =>
        new($"a number of megabits per second above 0, from {minimum.ToString(CultureInfo.InvariantCulture)} to {maximum.ToString(CultureInfo.InvariantCulture)}",
            (string text, out double value) => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value) && value >= minimum && value <= maximum);

    /// <summary>A date and time in ISO 8601 (UTC when it names no offset), as a token's expiry is given.</summary>
    public static readonly SettingRule<DateTimeOffset> Instant = new("an ISO-8601 date and time such as 2027-01-31T00:00:00Z",
        (string text, out DateTimeOffset value) => DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out value));

    /// <summary>A standard cron expression of exactly five fields (minute hour day month weekday), read trimmed.</summary>
    public static readonly SettingRule<string> Cron = new("a 5-field cron expression (minute hour day month weekday)", TryCron);

    private static string Example(TimeSpan example) => $"{example.ToString("c", CultureInfo.InvariantCulture)} or {Iso(example)}";

    /// <summary>ISO 8601 as the twin writes it: <c>PT1H</c>, <c>P7D</c>, <c>P3650D</c>.</summary>
    public static string Iso(TimeSpan value) => XmlConvert.ToString(value);

    private static bool TryWhole(string text, long minimum, long maximum, out long value) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value) && value >= minimum && value <= maximum;

    private static bool TryDuration(string text, out TimeSpan value)
    {
        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value))
        {
            return value >= TimeSpan.Zero;
        }

        try
        {
            value = XmlConvert.ToTimeSpan(text);
            return value >= TimeSpan.Zero;
        }
        catch (FormatException)
        {
            return false;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    private static bool TryFlag(string text, out bool value)
    {
        switch (text.ToLowerInvariant())
        {
            case "true" or "1" or "yes":
                value = true;
                return true;
            case "false" or "0" or "no":
                value = false;
                return true;
            default:
                value = false;
                return false;
        }
    }

    private static bool TryCron(string text, out string value)
    {
        value = text.Trim();
        try
        {
            CronExpression.Parse(value, CronFormat.Standard);
            return true;
        }
        catch (CronFormatException)
        {
            return false;
        }
    }
}
