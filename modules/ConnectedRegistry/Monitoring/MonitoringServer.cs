using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ConnectedRegistry.Monitoring;

/// <summary>
/// The metrics port: a second, small Kestrel server of its own (so the registry's port never serves these paths
/// and this one never serves <c>/v2</c>) on <c>--metrics-urls</c>, answering only
/// <c>GET /metrics</c> (Prometheus text), <c>GET /healthz</c> (live) and <c>GET /readyz</c> (ready), with the
/// registry's own services behind them. Everything else is 404, any other method 405.
/// </summary>
public sealed partial class MonitoringServer(
    MonitoringOptions options,
    IServiceProvider services,
    ILoggerFactory loggerFactory) : IHostedService, IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private WebApplication? _app;

    /// <summary>The addresses the metrics port listens on, once started (port 0 resolved).</summary>
    public IReadOnlyList<string> Addresses { get; private set; } = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.MetricsUrls.Count == 0)
        {
            Log.Off(loggerFactory.CreateLogger<MonitoringServer>());
            return;
        }

        // Only now: with the port off, nothing listens to the meter and its instruments cost nothing.
        var exporter = services.GetRequiredService<PrometheusExporter>();
        var health = services.GetRequiredService<HealthCheckService>();
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().UseUrls([.. options.MetricsUrls]);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
        // The registry's own loggers, without the host status lines a second host would repeat; no console lifetime of its own.
        builder.Services.AddSingleton<ILoggerFactory>(new QuietLifetimeLoggerFactory(loggerFactory));
        builder.Services.AddSingleton<IHostLifetime, OwnedLifetime>();
        var app = builder.Build();
        app.Run(context => HandleAsync(context, exporter, health));
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            await app.DisposeAsync();
            throw new MonitoringConfigurationException($"{MonitoringOptions.MetricsUrlsOption}: cannot listen on {string.Join(", ", options.MetricsUrls)}: {ex.Message}");
        }

        _app = app;
        Addresses = [.. app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];
        Log.Listening(loggerFactory.CreateLogger<MonitoringServer>(), string.Join(", ", Addresses));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
            _app = null;
        }
    }

    private static async Task HandleAsync(HttpContext context, PrometheusExporter exporter, HealthCheckService health)
    {
        var path = context.Request.Path.Value;
        if (path is not ("/metrics" or "/healthz" or "/readyz"))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            context.Response.Headers.Allow = "GET, HEAD";
            return;
        }

        context.Response.Headers.CacheControl = "no-store";
        switch (path)
        {
            case "/metrics":
                context.Response.ContentType = PrometheusExporter.ContentType;
                await exporter.WriteAsync(context.Response.Body, context.RequestAborted);
                break;
            case "/healthz":
                // Live: this answer is the proof that the process serves.
                await WriteHealthAsync(context, HealthStatus.Healthy, new Dictionary<string, object> { ["process"] = new { status = "Healthy", description = "serving" } });
                break;
            default:
                var report = await health.CheckHealthAsync(check => check.Tags.Contains(ReadinessChecks.Tag), context.RequestAborted);
                var checks = report.Entries.ToDictionary(e => e.Key, e => (object)new { status = e.Value.Status.ToString(), description = e.Value.Description });
                await WriteHealthAsync(context, report.Status, checks);
                break;
        }
    }

    private static Task WriteHealthAsync(HttpContext context, HealthStatus status, Dictionary<string, object> checks)
    {
        context.Response.StatusCode = status == HealthStatus.Unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(context.Response.Body, new { status = status.ToString(), checks }, Json, context.RequestAborted);
    }

    /// <summary>The registry's host owns the process's signals; this one is started and stopped by it.</summary>
    private sealed class OwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>The registry's logger factory minus <c>Microsoft.Hosting.Lifetime</c> (its "Now listening" would repeat).</summary>
    private sealed class QuietLifetimeLoggerFactory(ILoggerFactory inner) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) =>
            categoryName == "Microsoft.Hosting.Lifetime" ? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance : inner.CreateLogger(categoryName);

        public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

        public void Dispose()
        {
            // The registry's host owns the inner factory.
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 7010, Level = LogLevel.Information, Message = "Metrics and health on {Addresses} (/metrics, /healthz, /readyz)")]
        public static partial void Listening(ILogger logger, string addresses);

        [LoggerMessage(EventId = 7011, Level = LogLevel.Information, Message = "Metrics and health endpoints are off (empty --metrics-urls)")]
        public static partial void Off(ILogger logger);
    }
}
