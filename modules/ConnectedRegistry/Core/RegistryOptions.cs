namespace ConnectedRegistry.Core;

/// <summary>
/// Start-up settings that are not in the twin: where data lives, where the standalone twin files are.
/// Read once from configuration (command line <c>--data</c>, <c>--desired</c>, <c>--reported</c>,
/// or the environment <c>REGISTRY_DATA</c>, <c>REGISTRY_DESIRED</c>, <c>REGISTRY_REPORTED</c>).
/// </summary>
public sealed class RegistryOptions
{
    public const string DefaultUrl = "http://127.0.0.1:5000";

    public required string DataRoot { get; init; }

    public required string DesiredFile { get; init; }

    public required string ReportedFile { get; init; }

    /// <summary>Standalone: the file events go to as JSON lines (<c>--events</c>, <c>REGISTRY_EVENTS</c>); null = off.</summary>
    public string? EventsFile { get; init; }

    public static readonly StartupOption DataOption = new("data", "REGISTRY_DATA");
    public static readonly StartupOption DesiredOption = new("desired", "REGISTRY_DESIRED");
    public static readonly StartupOption ReportedOption = new("reported", "REGISTRY_REPORTED");
    public static readonly StartupOption EventsOption = new("events", "REGISTRY_EVENTS");

    /// <summary>Paths, so any value is taken here (<see cref="StartupConfiguration.Text"/>); the data folder is checked before anything is built on it.</summary>
    public static RegistryOptions FromConfiguration(IConfiguration configuration) => new()
    {
        DataRoot = Path.GetFullPath(StartupConfiguration.Text(configuration, DataOption) ?? "data"),
        DesiredFile = Path.GetFullPath(StartupConfiguration.Text(configuration, DesiredOption) ?? Path.Combine("twin", "desired.json")),
        ReportedFile = Path.GetFullPath(StartupConfiguration.Text(configuration, ReportedOption) ?? Path.Combine("twin", "reported.json")),
        EventsFile = StartupConfiguration.Text(configuration, EventsOption) is { } events ? Path.GetFullPath(events) : null,
    };
}
