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
            return new Sink(labels, counter.Inc, values => counter.WithLabels(values).Inc);
        }

        if (kind == typeof(Histogram<>))
        {
            var buckets = (instrument as Histogram<double>)?.Advice?.HistogramBucketBoundaries?.ToArray();
            var histogram = _factory.CreateHistogram(name, help, labels, new HistogramConfiguration { Buckets = buckets });
            return new Sink(labels, histogram.Observe, values => histogram.WithLabels(values).Observe);
        }

        if (kind == typeof(ObservableGauge<>))
        {
            var gauge = _factory.CreateGauge(name, help, labels);
            return new Sink(labels, gauge.Set, values => gauge.WithLabels(values).Set);
        }

        return null;
    }

    /// <summary>
    /// Records one instrument's measurements into its Prometheus collector. The labelled child of each combination of
    /// label values is looked up once and kept (copy-on-write array, compared by reference first: the values are the
    /// module's constants), so a request's measurement allocates nothing and does no string hashing.
    /// </summary>
    private sealed class Sink(string[] labels, Action<double> unlabelled, Func<string[], Action<double>> child)
    {
        private const int MaxCachedLabels = 4;
        private readonly Lock _gate = new();
        private Child[] _children = [];

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (labels.Length == 0)
            {
                unlabelled(value);
                return;
            }

            if (labels.Length > MaxCachedLabels)
            {
                child(Strings(tags, labels.Length))(value);
                return;
            }

            var values = default(LabelValues);
            for (var i = 0; i < labels.Length; i++)
            {
                values[i] = ValueOf(tags, labels[i]);
            }

            foreach (var cached in Volatile.Read(ref _children))
            {
                if (cached.Matches(values, labels.Length))
                {
                    cached.Record(value);
                    return;
                }
            }

            Add(values, tags)(value);
        }

        private Action<double> Add(LabelValues values, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            lock (_gate)
            {
                foreach (var cached in _children)
                {
                    if (cached.Matches(values, labels.Length))
                    {
                        return cached.Record;
                    }
                }

                var added = new Child(values, child(Strings(tags, labels.Length)));
                Volatile.Write(ref _children, [.. _children, added]);
                return added.Record;
            }
        }

        private string[] Strings(ReadOnlySpan<KeyValuePair<string, object?>> tags, int count)
        {
            var values = new string[count];
            for (var i = 0; i < count; i++)
            {
                values[i] = ValueOf(tags, labels[i])?.ToString() ?? string.Empty;
            }

            return values;
        }

        private static object? ValueOf(ReadOnlySpan<KeyValuePair<string, object?>> tags, string label)
        {
            foreach (var tag in tags)
            {
                if (ReferenceEquals(tag.Key, label) || tag.Key == label)
                {
                    return tag.Value;
                }
            }

            return null;
        }

        private sealed class Child(LabelValues values, Action<double> record)
        {
            private readonly LabelValues _values = values;

            public Action<double> Record { get; } = record;

            public bool Matches(in LabelValues other, int count)
            {
                for (var i = 0; i < count; i++)
                {
                    var mine = _values[i];
                    var theirs = other[i];
                    if (!ReferenceEquals(mine, theirs) && !Equals(mine?.ToString(), theirs?.ToString()))
                    {
                        return false;
                    }
                }

                return true;
            }
        }
    }

    /// <summary>The label values of one measurement, without an array.</summary>
    [System.Runtime.CompilerServices.InlineArray(4)]
    private struct LabelValues
    {
        private object? _first;
    }
}
