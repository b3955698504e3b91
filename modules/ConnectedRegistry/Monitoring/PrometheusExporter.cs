using System.Diagnostics.Metrics;
using ConnectedRegistry.Core;
using Prometheus;

namespace ConnectedRegistry.Monitoring;

/// <summary>
/// Publishes the module's <see cref="RegistryMetrics"/> meter in the Prometheus text format, through
/// prometheus-net's own counters, histograms and gauges in a registry of this host's own. The bridge is ours
/// rather than prometheus-net's MeterAdapter because that adapter turns counters into gauges and drops series
/// idle for five minutes, and listens to meters by name, while this one listens only to this host's meter (tests
/// run several registries in one process). Names follow Prometheus conventions: the instrument name with
/// <c>_</c> for <c>.</c>, then the unit (<c>s</c> → <c>_seconds</c>, <c>By</c> → <c>_bytes</c>), then
/// <c>_total</c> for counters.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly MeterListener _listener = new();
    private readonly RegistryMetrics _metrics;
    private readonly IMetricFactory _factory;
    private volatile bool _disposed;

    public PrometheusExporter(RegistryMetrics metrics)
    {
        _metrics = metrics;
        _factory = Metrics.WithCustomRegistry(Registry);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, metrics.Meter) && CreateSink(instrument) is { } sink)
            {
                listener.EnableMeasurementEvents(instrument, sink);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, state) => ((Sink)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>((_, value, tags, state) => ((Sink)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>((_, value, tags, state) => ((Sink)state!).Record(value, tags));
        _listener.Start();
        Registry.AddBeforeCollectCallback(() =>
        {
            if (!_disposed)
            {
                _listener.RecordObservableInstruments();
            }
        });
    }

    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();

    /// <summary>Writes every metric in the Prometheus text exposition format (version 0.0.4).</summary>
    public Task WriteAsync(Stream destination, CancellationToken cancellationToken) =>
        Registry.CollectAndExportAsTextAsync(destination, ExpositionFormat.PrometheusText, cancellationToken);

    public void Dispose()
    {
        _disposed = true;
        _listener.Dispose();
    }

    /// <summary>The Prometheus name of an instrument: <c>connected_registry.http.sent</c> in bytes → <c>connected_registry_http_sent_bytes_total</c>.</summary>
    public static string PrometheusName(Instrument instrument)
    {
        var name = instrument.Name.Replace('.', '_');
        name += instrument.Unit switch
        {
            "s" => "_seconds",
            "By" => "_bytes",
            _ => string.Empty,
        };
        return instrument.GetType().GetGenericTypeDefinition() == typeof(Counter<>) ? name + "_total" : name;
    }

    private Sink? CreateSink(Instrument instrument)
    {
        var labels = _metrics.LabelNames(instrument).ToArray();
        var name = PrometheusName(instrument);
        var help = instrument.Description ?? instrument.Name;
        var kind = instrument.GetType().GetGenericTypeDefinition();
        if (kind == typeof(Counter<>))
        {
            var counter = _factory.CreateCounter(name, help, labels);
            return new Sink(labels, (values, value) => { if (labels.Length == 0) { counter.Inc(value); } else { counter.WithLabels(values).Inc(value); } });
        }

        if (kind == typeof(Histogram<>))
        {
            var buckets = (instrument as Histogram<double>)?.Advice?.HistogramBucketBoundaries?.ToArray();
            var histogram = _factory.CreateHistogram(name, help, labels, new HistogramConfiguration { Buckets = buckets });
            return new Sink(labels, (values, value) => { if (labels.Length == 0) { histogram.Observe(value); } else { histogram.WithLabels(values).Observe(value); } });
        }

        if (kind == typeof(ObservableGauge<>))
        {
            var gauge = _factory.CreateGauge(name, help, labels);
            return new Sink(labels, (values, value) => { if (labels.Length == 0) { gauge.Set(value); } else { gauge.WithLabels(values).Set(value); } });
        }

        return null;
    }

    /// <summary>Turns one measurement's tags into label values in the collector's order and records it.</summary>
    private sealed class Sink(string[] labels, Action<string[], double> record)
    {
        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var values = labels.Length == 0 ? [] : new string[labels.Length];
            for (var i = 0; i < labels.Length; i++)
            {
                values[i] = string.Empty;
                foreach (var tag in tags)
                {
                    if (tag.Key == labels[i])
                    {
                        values[i] = tag.Value?.ToString() ?? string.Empty;
                        break;
                    }
                }
            }

            record(values, value);
        }
    }
}
