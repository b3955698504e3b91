using System.CommandLine;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Monitoring;

/// <summary>
/// <c>ConnectedRegistry health [--metrics-urls URL] [--timeout SECONDS]</c>: asks the running registry's
/// <c>/readyz</c> on its metrics port (the first of <c>--metrics-urls</c> / <c>REGISTRY_METRICS_URLS</c>, a
/// wildcard host read as loopback) and exits 0 when it is ready, 1 when it is not or does not answer, 2 for bad
/// arguments or a metrics port that is off. Made for the image's HEALTHCHECK, which has no curl.
/// </summary>
public static class HealthCommand
{
    /// <summary>The <c>health</c> command; the answer of <c>/readyz</c> goes to standard output.</summary>
    public static Command Create()
    {
        var urlsOption = new Option<string>("--metrics-urls")
        {
            Description = $"The registry's metrics addresses; the first is asked (environment REGISTRY_METRICS_URLS; default {MonitoringOptions.DefaultMetricsUrl}).",
            HelpName = "URLS",
        };
        var timeoutOption = new Option<double>("--timeout") { Description = "Seconds to wait for the answer (default 5).", HelpName = "SECONDS", DefaultValueFactory = _ => 5 };
        var command = new Command("health", "Ask the running registry whether it is ready (its /readyz on the metrics port): exit 0 ready, 1 not ready or no answer.")
        {
            urlsOption, timeoutOption,
        };
        command.SetAction((result, _) =>
        {
            var seconds = result.GetValue(timeoutOption);
            if (!(seconds > 0) || double.IsInfinity(seconds))
            {
                return Task.FromResult(CommandLineRunner.Refuse(result, result.InvocationConfiguration.Error, $"--timeout must be a positive number of seconds, got {seconds}"));
            }

            var urls = result.GetResult(urlsOption) is null ? Environment.GetEnvironmentVariable("REGISTRY_METRICS_URLS") : result.GetValue(urlsOption);
            return AskAsync(urls, TimeSpan.FromSeconds(seconds), result.InvocationConfiguration.Output, result.InvocationConfiguration.Error);
        });
        return command;
    }

    private static async Task<int> AskAsync(string? urls, TimeSpan timeout, TextWriter output, TextWriter error)
    {
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
