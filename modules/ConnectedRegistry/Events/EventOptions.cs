using ConnectedRegistry.Core;

namespace ConnectedRegistry.Events;

/// <summary>
/// Tunables of the events output (configuration section <c>Events</c>). The standalone file (<c>--events FILE</c>) is
/// <see cref="Core.RegistryOptions.EventsFile"/>, read by the module client.
/// </summary>
public sealed class EventOptions
{
    /// <summary>The module output the messages go to.</summary>
    public const string Output = "events";

    /// <summary>Events kept while edgeHub is away; beyond it the oldest is dropped (and counted).</summary>
    public int QueueCapacity { get; set; } = 1000;

    /// <summary>First pause after a failed send; doubles up to 30 s.</summary>
    public int RetryDelayMs { get; set; } = 1000;

    public static EventOptions FromConfiguration(IConfiguration configuration)
    {
        var options = new EventOptions();
        StartupConfiguration.Bind(configuration, "Events", options);
        options.QueueCapacity = Math.Max(1, options.QueueCapacity);
        return options;
    }
}
