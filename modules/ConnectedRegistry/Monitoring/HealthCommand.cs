namespace ConnectedRegistry.Monitoring;

/// <summary>
/// <c>ConnectedRegistry health [--metrics-urls URL] [--timeout SECONDS]</c>: asks the running registry's
/// <c>/readyz</c> on its metrics port (the first of <c>--metrics-urls</c> / <c>REGISTRY_METRICS_URLS</c>, a
/// wildcard host read as loopback) and exits 0 when it is ready, 1 when it is not or does not answer, 2 for bad
/// arguments or a metrics port that is off. Made for the image's HEALTHCHECK, which has no curl.
/// </summary>
public static class HealthCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        string? urls = Environment.GetEnvironmentVariable("REGISTRY_METRICS_URLS");
        var timeout = TimeSpan.FromSeconds(5);
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--metrics-urls" when value is not null:
                    urls = value;
                    i++;
                    break;
                case "--timeout" when value is not null && double.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds > 0:
                    timeout = TimeSpan.FromSeconds(seconds);
                    i++;
                    break;
                default:
                    await error.WriteLineAsync($"health: unknown or incomplete argument '{args[i]}'. Usage: health [--metrics-urls URL] [--timeout SECONDS]");
                    return 2;
            }
        }

        var first = (urls ?? MonitoringOptions.DefaultMetricsUrl).Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        if (first is null)
        {
            await error.WriteLineAsync($"health: the metrics port is off ({MonitoringOptions.MetricsUrlsOption} is empty), so readiness cannot be asked.");
            return 2;
        }

        if (!Uri.TryCreate(LoopbackFor(first), UriKind.Absolute, out var baseUri))
        {
            await error.WriteLineAsync($"health: '{first}' is not an http:// address.");
            return 2;
        }

        using var http = new HttpClient { Timeout = timeout };
        try
        {
            using var response = await http.GetAsync(new Uri(baseUri, "/readyz"));
            await output.WriteLineAsync(await response.Content.ReadAsStringAsync());
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            await error.WriteLineAsync($"health: no answer from {baseUri}: {ex.Message}");
            return 1;
        }
    }

    /// <summary>A listening address with a wildcard host (<c>0.0.0.0</c>, <c>[::]</c>, <c>*</c>, <c>+</c>) is asked on loopback.</summary>
    internal static string LoopbackFor(string url) => url
        .Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal)
        .Replace("://[::]", "://[::1]", StringComparison.Ordinal)
        .Replace("://*", "://127.0.0.1", StringComparison.Ordinal)
        .Replace("://+", "://127.0.0.1", StringComparison.Ordinal);
}
