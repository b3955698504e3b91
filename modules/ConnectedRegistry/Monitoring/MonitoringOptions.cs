using ConnectedRegistry.Core;

namespace ConnectedRegistry.Monitoring;

/// <summary>
/// Start-up settings for metrics, health and logs: <c>--metrics-urls</c> (<c>REGISTRY_METRICS_URLS</c>; default
/// <see cref="DefaultMetricsUrl"/>, an empty value turns the metrics port off), <c>--access-log</c>
/// (<c>REGISTRY_ACCESS_LOG</c>) and <c>--log-format plain|json</c> (<c>REGISTRY_LOG_FORMAT</c>).
/// </summary>
public sealed class MonitoringOptions
{
    public const string DefaultMetricsUrl = "http://127.0.0.1:9600";
    public static readonly StartupOption MetricsUrlsOption = new("metrics-urls", "REGISTRY_METRICS_URLS");
    public static readonly StartupOption AccessLogOption = new("access-log", "REGISTRY_ACCESS_LOG");
    public static readonly StartupOption LogFormatOption = new("log-format", "REGISTRY_LOG_FORMAT");

    /// <summary>Where <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c> are served; empty: nowhere.</summary>
    public IReadOnlyList<string> MetricsUrls { get; init; } = [DefaultMetricsUrl];

    public bool AccessLog { get; init; }

    public bool JsonLogs { get; init; }

    /// <exception cref="StartupException">A value is not one its option takes (<see cref="StartupConfiguration"/>).</exception>
    public static MonitoringOptions FromConfiguration(IConfiguration configuration)
    {
        // Null means "not given"; an empty value given on purpose turns the port off.
        var urls = StartupConfiguration.Given(configuration, MetricsUrlsOption);
        var metricsUrls = urls is null
            ? [DefaultMetricsUrl]
            : urls.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (!metricsUrls.All(IsMetricsUrl))
        {
            throw StartupConfiguration.Wrong(MetricsUrlsOption, "http:// addresses such as http://0.0.0.0:9600 (or empty to turn metrics off)", urls!);
        }

        return new MonitoringOptions
        {
            MetricsUrls = metricsUrls,

            // --access-log alone: the command line gives it the value "true".
            AccessLog = StartupConfiguration.Flag(configuration, AccessLogOption, false),
            JsonLogs = StartupConfiguration.Read(configuration, LogFormatOption, false, (string text, out bool json) =>
            {
                json = text == "json";
                return text is "json" or "plain";
            }, "'plain' or 'json'"),
        };
    }

    private static bool IsMetricsUrl(string url) =>
        Uri.TryCreate(url.Replace("://*", "://0.0.0.0").Replace("://+", "://0.0.0.0"), UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttp && uri.AbsolutePath == "/";
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
            // Followed by a value (true, false, or one the option refuses at start): not bare. A bad value was dropped
            // here as a stray argument, so --access-log sometimes turned the log on.
            var valued = i + 1 < args.Length && !args[i + 1].StartsWith('-');
            result.Add(bare && !valued ? "--access-log=true" : args[i]);
        }

        return [.. result];
    }
}
