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

    public static RegistryOptions FromConfiguration(IConfiguration configuration)
    {
        static string Pick(IConfiguration c, string fallback, params string[] keys)
        {
            foreach (var key in keys)
            {
                var value = c[key];
                if (!string.IsNullOrWhiteSpace(value))
                {
                    return value;
                }
            }

            return fallback;
        }

        return new RegistryOptions
        {
            DataRoot = Path.GetFullPath(Pick(configuration, "data", "data", "REGISTRY_DATA")),
            DesiredFile = Path.GetFullPath(Pick(configuration, Path.Combine("twin", "desired.json"), "desired", "REGISTRY_DESIRED")),
            ReportedFile = Path.GetFullPath(Pick(configuration, Path.Combine("twin", "reported.json"), "reported", "REGISTRY_REPORTED")),
        };
    }
}
