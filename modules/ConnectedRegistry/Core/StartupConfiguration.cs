using System.Globalization;
using System.Text.RegularExpressions;

namespace ConnectedRegistry.Core;

/// <summary>
/// The one way start-up settings are read and checked. Every part's options read their values here: the options of
/// the command line and the environment (<see cref="StartupOption"/>: <c>--upload-max-age</c> or
/// <c>REGISTRY_UPLOAD_MAX_AGE</c>) through <see cref="Text"/>, <see cref="Count"/>, <see cref="Duration"/>,
/// <see cref="Flag"/> and <see cref="Read{T}"/>, and the tuning sections (<c>--Twin:ReportIntervalMs 500</c>,
/// <c>Events__QueueCapacity=10</c>) through <see cref="Bind{T}"/> and <see cref="Require{T}"/>. A value that cannot be
/// read, or is out of its range, ends the start with a <see cref="StartupException"/> of one line that names the option
/// both ways it can be given, what it takes and what it got (<c>--sync-parallel-blobs (SYNC_PARALLEL_BLOBS) must be a
/// whole number from 1 to 64, got '0'.</c>); the host prints it and exits 2. Before, each part read its own: one
/// ignored a bad value, another clamped it, others threw with differently worded messages naming one of the two forms.
/// </summary>
public static partial class StartupConfiguration
{
    /// <summary>Reads <paramref name="text"/> into <paramref name="value"/>; false when it is not a value of the option.</summary>
    public delegate bool Parser<T>(string text, out T value);

    /// <summary>
    /// The option's text, trimmed: the command line's when given and not blank, else the environment's; null when
    /// neither is (the option keeps its default).
    /// </summary>
    public static string? Text(IConfiguration configuration, StartupOption option) =>
        new[] { configuration[option.Name], configuration[option.Variable] }.FirstOrDefault(v => !string.IsNullOrWhiteSpace(v))?.Trim();

    /// <summary>
    /// The option's value as given, blank included, for the option where an empty value given on purpose means "off"
    /// (<c>--metrics-urls ""</c>); null when it is not given at all.
    /// </summary>
    public static string? Given(IConfiguration configuration, StartupOption option) => configuration[option.Name] ?? configuration[option.Variable];

    /// <summary>The option read by <paramref name="parse"/>, or <paramref name="fallback"/> when it is not given.</summary>
    /// <param name="takes">What the option takes, completing "must be …" (<c>a fraction between 0 and 1</c>).</param>
    /// <exception cref="StartupException">The value is not one <paramref name="parse"/> takes.</exception>
    public static T Read<T>(IConfiguration configuration, StartupOption option, T fallback, Parser<T> parse, string takes)
    {
        var text = Text(configuration, option);
        if (text is null)
        {
            return fallback;
        }

        return parse(text, out var value) ? value : throw Wrong(option, takes, text);
    }

    /// <summary>The option read by <paramref name="rule"/> (<see cref="SettingRules"/>), or <paramref name="fallback"/> when it is not given.</summary>
    /// <exception cref="StartupException">The value is not one <paramref name="rule"/> takes.</exception>
    public static T Read<T>(IConfiguration configuration, StartupOption option, T fallback, SettingRule<T> rule) =>
        Read(configuration, option, fallback, rule.TryRead, rule.Takes);

    /// <summary>A whole number from <paramref name="minimum"/> to <paramref name="maximum"/> (<see cref="SettingRules.WholeNumber"/>).</summary>
    public static int Count(IConfiguration configuration, StartupOption option, int fallback, int minimum = 1, int maximum = int.MaxValue) =>
        (int)Read(configuration, option, fallback, SettingRules.WholeNumber(minimum, maximum));

    /// <summary>
    /// A duration from <paramref name="minimum"/> to <paramref name="maximum"/> (<see cref="SettingRules.Duration"/>: a
    /// time span such as <c>1.00:00:00</c> or ISO 8601 such as <c>P1D</c>), its default shown as the example.
    /// </summary>
    public static TimeSpan Duration(IConfiguration configuration, StartupOption option, TimeSpan fallback, TimeSpan minimum = default, TimeSpan? maximum = null) =>
        Read(configuration, option, fallback, SettingRules.Duration(minimum, maximum ?? SettingRules.NoMaximum, fallback));

    /// <summary>true or false (also 1/0 and yes/no: <see cref="SettingRules.Flag"/>).</summary>
    public static bool Flag(IConfiguration configuration, StartupOption option, bool fallback) =>
        Read(configuration, option, fallback, SettingRules.Flag);

    /// <summary>
    /// Checks the text of a key of a tuning section, before <see cref="Bind{T}"/> reads it: when <paramref name="key"/>
    /// is given there and <paramref name="rule"/> refuses it, a <see cref="StartupException"/> naming
    /// <c>--Section:Key (Section__Key)</c>, in the words of every option.
    /// </summary>
    public static void Require<T>(IConfiguration configuration, string section, string key, SettingRule<T> rule)
    {
        var option = StartupOption.InSection(section, key);
        if (configuration[option.Name] is { } given && !rule.TryRead(given.Trim(), out _))
        {
            throw Wrong(option, rule.Takes, given);
        }
    }

    /// <summary><see cref="Require{T}"/> for a whole number from <paramref name="minimum"/> to <paramref name="maximum"/>.</summary>
    public static void Require(IConfiguration configuration, string section, string key, long minimum, long maximum = int.MaxValue) =>
        Require(configuration, section, key, SettingRules.WholeNumber(minimum, maximum));

    /// <summary>The error of a value an option does not take: one line, the value escaped and cut.</summary>
    public static StartupException Wrong(StartupOption option, string takes, string value, Exception? inner = null) =>
        new($"{option} must be {takes}, got '{LogText.Escape(value)}'.", inner);

    /// <summary>Binds the section <paramref name="section"/> onto <paramref name="options"/> and returns them.</summary>
    /// <exception cref="StartupException">A value cannot be converted to its property's type.</exception>
    public static T Bind<T>(IConfiguration configuration, string section, T options)
        where T : class
    {
        try
        {
            configuration.GetSection(section).Bind(options);
            return options;
        }
        catch (InvalidOperationException ex)
        {
            throw Wrong(ex);
        }
    }

    /// <summary>The value of <paramref name="key"/> in <paramref name="section"/>, or <paramref name="fallback"/> when it is not set.</summary>
    /// <exception cref="StartupException">The value cannot be converted to <typeparamref name="T"/>.</exception>
    public static T Value<T>(IConfigurationSection section, string key, T fallback)
    {
        try
        {
            return section.GetValue(key, fallback)!;
        }
        catch (InvalidOperationException ex)
        {
            throw Wrong(ex);
        }
    }

    private static StartupException Wrong(InvalidOperationException ex)
    {
        // "Failed to convert configuration value 'abc' at 'Twin:ReportIntervalMs' to type 'System.Int32'."
        if (BinderError().Match(ex.Message) is not { Success: true } match)
        {
            return new StartupException($"{LogText.Escape(ex.Message)} Fix the value or remove it to use the default.", ex);
        }

        var key = match.Groups["key"].Value;
        var takes = match.Groups["type"].Value switch
        {
            "System.Int32" or "System.Int64" => "a whole number",
            "System.Double" or "System.Decimal" => "a number",
            "System.Boolean" => "true or false",
            "System.TimeSpan" => "a time span such as 00:00:30",
            var type => $"a value of type {type}",
        };
        return Wrong(new StartupOption(key, key.Replace(":", "__", StringComparison.Ordinal)), takes, match.Groups["value"].Value, ex);
    }

    [GeneratedRegex(@"value '(?<value>.*)' at '(?<key>[^']+)' to type '(?<type>[^']+)'", RegexOptions.Singleline)]
    private static partial Regex BinderError();
}
