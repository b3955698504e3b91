using System.Collections;

namespace ConnectedRegistry.Identity;

/// <summary>
/// The environment variables the module reads to find out who it is. A singleton so tests (which run
/// in parallel in one process) give each registry instance its own environment.
/// </summary>
public sealed class ModuleEnvironment
{
    private readonly IReadOnlyDictionary<string, string> _values;

    public ModuleEnvironment(IReadOnlyDictionary<string, string> values) => _values = values;

    public static ModuleEnvironment FromProcess()
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string key && entry.Value is string value)
            {
                values[key] = value;
            }
        }

        return new ModuleEnvironment(values);
    }

    /// <summary>The value, or null when unset or blank.</summary>
    public string? this[string name] => _values.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;
}

/// <summary>A start-up error in the module's identity or environment. The message names the variable and never holds a secret.</summary>
public sealed class ModuleConfigurationException(string message) : Core.StartupException(message);
