using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>The settings of a stopped data root (<see cref="StoredSettingsReader"/>), read with the twin's parser.</summary>
public static class StoredDesiredSettings
{
    /// <inheritdoc cref="StoredSettingsReader"/>
    public static RegistrySettings? Read(string dataRoot, string? desiredFile, out string refusal)
    {
        JObject desired;
        if (desiredFile is not null)
        {
            desired = TwinJson.ParseObject(File.ReadAllText(desiredFile));
        }
        else if (!new LastGoodDesired(Path.Combine(dataRoot, "twin", "last-good-desired.json")).TryLoad(out desired, out _))
        {
            refusal = "no settings: the data root holds no last good desired properties; give --desired FILE";
            return null;
        }

        var parsed = DesiredPropertiesParser.Parse(desired);
        refusal = parsed.Settings is null ? "the desired properties are rejected: " + string.Join("; ", parsed.Errors) : string.Empty;
        return parsed.Settings;
    }
}
