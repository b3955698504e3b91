using System.Diagnostics;
using System.Globalization;
using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.Monitoring;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConnectedRegistry.IntegrationTests.Monitoring;

/// <summary>
/// The cost per request of the request metrics, in process, without sockets, clients or the harness (still wall time:
/// a loaded machine slows both sides; <c>bench/metrics-cost.sh</c> runs it beside the HTTP figures): the same request handler (a 1 KiB manifest
/// written to the response) run bare and behind <see cref="HttpMetricsMiddleware"/> with the exporter listening,
/// rounds interleaved. Marked <c>Category=Benchmark</c>, which <c>scripts/test.sh</c> leaves out; writes one JSON line
/// to <c>METRICS_BENCH_OUT</c> when that is set.
/// </summary>
public sealed class MetricsCostBenchmark
{
    private static readonly byte[] Manifest = new byte[1024];

    [Fact]
    [Trait("Category", "Benchmark")]
    public async Task Request_metrics_cost_per_request_against_the_bare_handler()
    {
        var requests = int.Parse(Environment.GetEnvironmentVariable("BENCH_REQUESTS") ?? "200000", CultureInfo.InvariantCulture);
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var metrics = new RegistryMetrics(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), new ModuleState());
        using var exporter = new PrometheusExporter(metrics);
        var accessLog = new AccessLog(new MonitoringOptions(), TimeProvider.System, NullLogger<AccessLog>.Instance);
        var metered = new HttpMetricsMiddleware(HandlerAsync, metrics, accessLog);

        var bare = new List<double>();
        var withMetrics = new List<double>();
        for (var round = 0; round < 7; round++)
        {
            bare.Add(await NanosecondsPerRequestAsync(HandlerAsync, requests));
            withMetrics.Add(await NanosecondsPerRequestAsync(metered.InvokeAsync, requests));
        }

        bare.Sort();
        withMetrics.Sort();
        var bareNs = bare[bare.Count / 2];
        var meteredNs = withMetrics[withMetrics.Count / 2];
        var line = string.Create(CultureInfo.InvariantCulture,
            $$"""{"requests": {{requests}}, "bareNs": {{bareNs:0}}, "meteredNs": {{meteredNs:0}}, "costNs": {{meteredNs - bareNs:0}}}""");
        if (Environment.GetEnvironmentVariable("METRICS_BENCH_OUT") is { Length: > 0 } output)
        {
            await File.AppendAllTextAsync(output, line + Environment.NewLine);
        }

        using var body = new MemoryStream();
        await exporter.WriteAsync(body, CancellationToken.None);
        var scrape = new Scrape(await PrometheusText.ParseAsync(Encoding.UTF8.GetString(body.ToArray())));
        Assert.Equal(7.0 * requests, scrape.Value("connected_registry_http_requests_total", ("route", "manifest"), ("status", "2xx"))); // every metered request counted
    }

    private static async Task<double> NanosecondsPerRequestAsync(RequestDelegate pipeline, int requests)
    {
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < requests; i++)
        {
            var context = new DefaultHttpContext();
            context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(Stream.Null));
            context.Request.Method = HttpMethods.Get;
            context.Request.Path = "/v2/apps/web/manifests/v1";
            await pipeline(context);
        }

        return watch.Elapsed.TotalNanoseconds / requests;
    }

    private static Task HandlerAsync(HttpContext context)
    {
        _ = OciRouteFeature.Of(context); // as the dispatcher does: the route parsed once, which the metrics then read
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentLength = Manifest.Length;
        return context.Response.Body.WriteAsync(Manifest).AsTask();
    }
}
