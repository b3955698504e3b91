using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary><c>children</c>: each child registry's shape, judged by <see cref="AuthRules"/> as <c>token create --sync</c> is.</summary>
public static partial class DesiredPropertiesParser
{
    /// <summary>Each child's shape (an object; strings; an array of repository strings), then <see cref="AuthRules.ValidateChild"/>, as <c>token create --sync</c>.</summary>
    private static Dictionary<string, ChildRegistrySettings> ParseChildren(JObject doc, RegistryMode mode, List<string> errors, List<string> warnings)
    {
        var result = new Dictionary<string, ChildRegistrySettings>(StringComparer.Ordinal);
        if (Obj(doc, "children", "children", errors) is not { } children)
        {
            return result;
        }

        foreach (var entry in children.Properties().Where(p => p.Value.Type != JTokenType.Null))
        {
            var path = $"children.{Shorten(entry.Name)}";
            if (entry.Value is not JObject child)
            {
                errors.Add($"{path} must be an object");
                continue;
            }

            var before = errors.Count;
            var childMode = ParseMode(child, "mode", $"{path}.mode", RegistryMode.ReadOnly, errors);
            var hash = Str(child, "syncTokenPasswordHash", $"{path}.syncTokenPasswordHash", errors);
            var repositories = StringList(child, "repositories", $"{path}.repositories", errors);
            var shapeRight = errors.Count == before;
            var platforms = PlatformList(child, "platforms", $"{path}.platforms", errors) ?? [];
            var filters = FilterList(child, "filters", $"{path}.filters", errors, warnings);
            if (!shapeRight)
            {
                continue;
            }

            var settings = new ChildRegistrySettings
            {
                Mode = childMode,
                SyncTokenPasswordHash = hash ?? "",
                Repositories = repositories!,
                Platforms = platforms,
                Filters = filters,
            };
            errors.AddRange(AuthRules.ValidateChild(entry.Name, settings, mode));
            result[entry.Name] = settings;
        }

        return result;
    }
}
