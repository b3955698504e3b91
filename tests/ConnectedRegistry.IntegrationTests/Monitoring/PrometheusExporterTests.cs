using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.Monitoring;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Monitoring;

/// <summary>The exporter's bridge from the meter to prometheus-net, in process, its output read by the Prometheus client's own parser.</summary>
public sealed class PrometheusExporterTests
{
    [Fact]
    public async Task Each_combination_of_label_values_is_one_series_however_its_strings_were_made()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var metrics = new RegistryMetrics(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), new ModuleState());
        using var exporter = new PrometheusExporter(metrics);

        metrics.RequestServed(RouteKinds.Manifest, "GET", 200, TimeSpan.FromMilliseconds(1), 0, 100);
        metrics.RequestServed(RouteKinds.Manifest, "GET", 200, TimeSpan.FromMilliseconds(2), 0, 50);
        // Equal values in other string instances (a client's method, a parsed route) land in the same series.
        metrics.RequestServed(new string(RouteKinds.Manifest.AsSpan()), new string("GET".AsSpan()), 204, TimeSpan.FromMilliseconds(3), 0, 0);
        metrics.RequestServed(RouteKinds.Manifest, "GET", 404, TimeSpan.FromMilliseconds(1), 0, 10);
        metrics.RequestServed(RouteKinds.Blob, "PUT", 201, TimeSpan.FromMilliseconds(1), 7, 0);

        using var body = new MemoryStream();
        await exporter.WriteAsync(body, CancellationToken.None);
        var scrape = new Scrape(await PrometheusText.ParseAsync(Encoding.UTF8.GetString(body.ToArray())));

        const string Requests = "connected_registry_http_requests_total";
        Assert.Equal(3, scrape.Value(Requests, ("route", "manifest"), ("method", "GET"), ("status", "2xx")));
        Assert.Equal(1, scrape.Value(Requests, ("route", "manifest"), ("method", "GET"), ("status", "4xx")));
        Assert.Equal(1, scrape.Value(Requests, ("route", "blob"), ("method", "PUT"), ("status", "2xx")));
        Assert.Equal(3, scrape.Samples.Count(s => s.Name == Requests));
        Assert.Equal(3, scrape.Value("connected_registry_http_request_duration_seconds_count", ("route", "manifest"), ("status", "2xx")));
        Assert.Equal(0.006, scrape.Value("connected_registry_http_request_duration_seconds_sum", ("route", "manifest"), ("status", "2xx")), 6);
        Assert.Equal(160, scrape.Value("connected_registry_http_sent_bytes_total", ("route", "manifest")));
        Assert.Equal(7, scrape.Value("connected_registry_http_received_bytes_total", ("route", "blob")));
    }
}
