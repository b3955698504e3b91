using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using Microsoft.Extensions.Configuration.Memory;

namespace ConnectedRegistry.Monitoring;

/// <summary>Metrics, health and logs: <c>builder.AddMonitoring()</c>, then <c>app.UseRequestMetrics()</c> first in the pipeline.</summary>
public static class MonitoringServiceExtensions
{
    /// <summary>
    /// The log levels the module starts with, below every other configuration source (appsettings, environment,
    /// command line, e.g. <c>--Logging:LogLevel:Microsoft.AspNetCore Information</c>): the framework's
    /// per-request categories log warnings only, as ASP.NET's templates set them.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string?> LogLevelDefaults = new Dictionary<string, string?>
    {
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Warning",
    };

    public static WebApplicationBuilder AddMonitoring(this WebApplicationBuilder builder)
    {
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = LogLevelDefaults });
        var options = MonitoringOptions.FromConfiguration(builder.Configuration);
        if (options.JsonLogs)
        {
            builder.Logging.AddJsonConsole(json =>
            {
                json.UseUtcTimestamp = true;
                json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddMetrics();
        services.AddSingleton<RegistryMetrics>();
        services.AddSingleton<PrometheusExporter>();
        services.AddSingleton<AccessLog>();
        services.AddHostedService<MetricsFeeds>();
        services.AddSingleton<MonitoringServer>();
        services.AddHostedService(sp => sp.GetRequiredService<MonitoringServer>());
        services.AddSingleton<DataRootWritableCheck>(); // one cached probe for every caller of /readyz
        services.AddHealthChecks()
            .AddCheck<DataRootWritableCheck>(ReadinessChecks.DataRoot, tags: [ReadinessChecks.Tag])
            .AddCheck<DatabasesCheck>(ReadinessChecks.Databases, tags: [ReadinessChecks.Tag])
            .AddCheck<SettingsAppliedCheck>(ReadinessChecks.Settings, tags: [ReadinessChecks.Tag])
            .AddCheck<ConnectionStateCheck>(ReadinessChecks.ConnectionState, tags: [ReadinessChecks.Tag])
            .AddCheck<ParentLinkCheck>(ReadinessChecks.Parent, tags: [ReadinessChecks.Tag]);
        return builder;
    }

    /// <summary>
    /// Times and counts every request of the registry's port (first, so it sees every answer), when there is a
    /// metrics port or an access log to feed: with neither, requests take exactly the path they took before.
    /// </summary>
    public static WebApplication UseRequestMetrics(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<MonitoringOptions>();
        if (options.MetricsUrls.Count > 0 || options.AccessLog)
        {
            app.UseMiddleware<HttpMetricsMiddleware>();
        }

        return app;
    }
}

/// <summary>
/// Feeds the metrics from the events parts already raise, so those parts need no call of their own: the twin's
/// processed desired documents (<see cref="IDesiredStatusSource"/>) and garbage collection runs.
/// </summary>
internal sealed class MetricsFeeds(RegistryMetrics metrics, IDesiredStatusSource desired, GarbageCollector collector) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        desired.StatusChanged += OnDesired;
        collector.Collected += OnCollected;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        desired.StatusChanged -= OnDesired;
        collector.Collected -= OnCollected;
        return Task.CompletedTask;
    }

    private void OnDesired(DesiredStatus status) => metrics.DesiredDocument(status.Code == 200);

    private void OnCollected(GarbageCollectionResult result) => metrics.GarbageCollected(result.BytesFreed);
}
