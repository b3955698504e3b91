using System.Diagnostics;
using System.Runtime.CompilerServices;
using ConnectedRegistry.Monitoring;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// Every registry these tests start (in process or as a child process) serves its metrics port on a free
/// 127.0.0.1 port instead of the default 9600, so parallel tests never compete for one port.
/// </summary>
public static class MetricsPort
{
    public const string TestUrls = "http://127.0.0.1:0";

    [ModuleInitializer]
    internal static void UseFreePorts() => Environment.SetEnvironmentVariable("REGISTRY_METRICS_URLS", TestUrls);

    /// <summary>The bound metrics address of a registry started in this process.</summary>
    public static Uri Address(RegistryInstance registry) =>
        new(registry.App.Services.GetRequiredService<MonitoringServer>().Addresses.Single());
}

/// <summary>One sample of a scrape, as the Prometheus client library's own text parser read it.</summary>
public sealed record MetricSample(string Family, string Type, string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>
/// Parses the Prometheus text format with Debian's <c>python3-prometheus-client</c>
/// (<c>prometheus_client.parser.text_string_to_metric_families</c>), not with a parser written for these tests.
/// </summary>
public static class PrometheusText
{
    private const string Script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        out = []
        for family in text_string_to_metric_families(sys.stdin.read()):
            for s in family.samples:
                out.append({"family": family.name, "type": family.type, "name": s.name, "labels": s.labels, "value": s.value})
        print(json.dumps(out))
        """;

    public static async Task<IReadOnlyList<MetricSample>> ParseAsync(string text)
    {
        var start = new ProcessStartInfo("/usr/bin/python3", ["-c", Script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        await process.StandardInput.WriteAsync(text);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, "the Prometheus text parser refused the scrape: " + await error);
        return [.. JArray.Parse(await output).Select(s => new MetricSample(
            (string)s["family"]!,
            (string)s["type"]!,
            (string)s["name"]!,
            ((JObject)s["labels"]!).Properties().ToDictionary(p => p.Name, p => (string)p.Value!),
            (double)s["value"]!))];
    }

    /// <summary>GET /metrics and parse it.</summary>
    public static async Task<Scrape> ScrapeAsync(Uri metricsAddress)
    {
        using var http = new HttpClient { BaseAddress = metricsAddress };
        using var response = await http.GetAsync("/metrics");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
        return new Scrape(await ParseAsync(await response.Content.ReadAsStringAsync()));
    }
}

/// <summary>A parsed scrape: the value of a sample by name and labels (0 when the series does not exist yet).</summary>
public sealed class Scrape(IReadOnlyList<MetricSample> samples)
{
    public IReadOnlyList<MetricSample> Samples => samples;

    public double Value(string name, params (string Name, string Value)[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Name, out var v) && v == l.Value)).Sum(s => s.Value);

    public string TypeOf(string family) => samples.First(s => s.Family == family).Type;
}
