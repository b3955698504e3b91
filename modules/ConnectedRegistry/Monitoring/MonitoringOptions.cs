namespace ConnectedRegistry.Monitoring;

/// <summary>
/// Start-up settings for metrics, health and logs: <c>--metrics-urls</c> (<c>REGISTRY_METRICS_URLS</c>; default
/// <see cref="DefaultMetricsUrl"/>, an empty value turns the metrics port off), <c>--access-log</c>
/// (<c>REGISTRY_ACCESS_LOG</c>) and <c>--log-format plain|json</c> (<c>REGISTRY_LOG_FORMAT</c>).
/// </summary>
public sealed class MonitoringOptions
{
    public const string DefaultMetricsUrl = "http://127.0.0.1:9600";
    public const string MetricsUrlsOption = "--metrics-urls (REGISTRY_METRICS_URLS)";
    public const string AccessLogOption = "--access-log (REGISTRY_ACCESS_LOG)";
    public const string LogFormatOption = "--log-format (REGISTRY_LOG_FORMAT)";

    /// <summary>Where <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c> are served; empty: nowhere.</summary>
    public IReadOnlyList<string> MetricsUrls { get; init; } = [DefaultMetricsUrl];

    public bool AccessLog { get; init; }

    public bool JsonLogs { get; init; }

    public static MonitoringOptions FromConfiguration(IConfiguration configuration)
    {
        // Null means "not given"; an empty value given on purpose turns the port off.
        var urls = configuration["metrics-urls"] ?? configuration["REGISTRY_METRICS_URLS"];
        var metricsUrls = urls is null
            ? [DefaultMetricsUrl]
            : urls.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var url in metricsUrls)
        {
            if (!Uri.TryCreate(url.Replace("://*", "://0.0.0.0").Replace("://+", "://0.0.0.0"), UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp || uri.AbsolutePath != "/")
            {
                throw new MonitoringConfigurationException($"{MetricsUrlsOption} must be http:// addresses such as http://0.0.0.0:9600 (or empty to turn metrics off), got '{url}'.");
            }
        }

        var format = (configuration["log-format"] ?? configuration["REGISTRY_LOG_FORMAT"])?.Trim();
        var json = format switch
        {
            null or "" or "plain" => false,
            "json" => true,
            _ => throw new MonitoringConfigurationException($"{LogFormatOption} must be 'plain' or 'json', got '{format}'."),
        };

        return new MonitoringOptions
        {
            MetricsUrls = metricsUrls,
            AccessLog = Flag(configuration["access-log"] ?? configuration["REGISTRY_ACCESS_LOG"]),
            JsonLogs = json,
        };
    }

    /// <summary><c>--access-log</c> alone (the command line gives it the value "true"), or true/false, 1/0.</summary>
    private static bool Flag(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "false" or "0" or "no" => false,
        "true" or "1" or "yes" => true,
        _ => throw new MonitoringConfigurationException($"{AccessLogOption} takes no value, or true or false, got '{value}'."),
    };
}

/// <summary>A metrics, health or log option is wrong; the message names the option.</summary>
public sealed class MonitoringConfigurationException(string message) : Core.StartupException(message);

/// <summary>Command-line switches that take no value.</summary>
public static class MonitoringSwitches
{
    /// <summary>
    /// ASP.NET's command-line configuration wants a value after every <c>--key</c>: a bare <c>--access-log</c>
    /// becomes <c>--access-log=true</c> so that it does not swallow the next argument or vanish at the end.
    /// </summary>
    public static string[] Normalize(string[] args)
    {
        var result = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            var bare = args[i] is "--access-log" or "/access-log";
            var valued = i + 1 < args.Length && args[i + 1] is "true" or "false";
            result.Add(bare && !valued ? "--access-log=true" : args[i]);
        }

        return [.. result];
    }
}
