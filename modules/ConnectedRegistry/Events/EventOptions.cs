namespace ConnectedRegistry.Events;

/// <summary>
/// Start-up options of the events output: <c>--events FILE</c> (<c>REGISTRY_EVENTS</c>) writes one JSON line per event
/// in standalone mode (default: off); the <c>Events</c> configuration section holds the tunables.
/// </summary>
public sealed class EventOptions
{
    /// <summary>The module output the messages go to.</summary>
    public const string Output = "events";

    /// <summary>Standalone: the JSON-lines file; null = no events outside IoT Edge.</summary>
    public string? File { get; set; }

    /// <summary>Events kept while edgeHub is away; beyond it the oldest is dropped (and counted).</summary>
    public int QueueCapacity { get; set; } = 1000;

    /// <summary>First pause after a failed send; doubles up to 30 s.</summary>
    public int RetryDelayMs { get; set; } = 1000;

    public static EventOptions FromConfiguration(IConfiguration configuration)
    {
        var options = new EventOptions();
        configuration.GetSection("Events").Bind(options);
        var file = configuration["events"];
        if (string.IsNullOrWhiteSpace(file))
        {
            file = configuration["REGISTRY_EVENTS"];
        }

        options.File = string.IsNullOrWhiteSpace(file) ? null : Path.GetFullPath(file);
        options.QueueCapacity = Math.Max(1, options.QueueCapacity);
        return options;
    }
}
