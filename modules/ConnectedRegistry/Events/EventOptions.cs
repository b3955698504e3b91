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

    /// <exception cref="StartupException">A value is not a whole number, or out of its range (<see cref="StartupConfiguration"/>).</exception>
    public static EventOptions FromConfiguration(IConfiguration configuration)
    {
        const string Section = "Events";
        StartupConfiguration.Require(configuration, Section, nameof(QueueCapacity), 1);
        StartupConfiguration.Require(configuration, Section, nameof(RetryDelayMs), 0);
        return StartupConfiguration.Bind(configuration, Section, new EventOptions());
    }
}
