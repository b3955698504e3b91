using System.Text.RegularExpressions;

namespace ConnectedRegistry.Core;

/// <summary>
/// Reads a tuning section of the configuration (<c>--Twin:ReportIntervalMs 500</c>, <c>Events__QueueCapacity=10</c>)
/// into its options at start-up. A value of the wrong type becomes a <see cref="StartupException"/> that names the
/// option both ways it can be given and what it takes, where the configuration binder's own error ended the start
/// with a stack trace.
/// </summary>
public static partial class StartupConfiguration
{
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
            return new StartupException($"{ex.Message} Fix the value or remove it to use the default.", ex);
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
        return new StartupException($"--{key} ({key.Replace(":", "__", StringComparison.Ordinal)}) must be {takes}, got '{match.Groups["value"].Value}'; fix it or remove it to use the default.", ex);
    }

    [GeneratedRegex(@"value '(?<value>.*)' at '(?<key>[^']+)' to type '(?<type>[^']+)'")]
    private static partial Regex BinderError();
}
