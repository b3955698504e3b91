using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// The members of the document against the schema's names (the tables in DesiredPropertiesParser.cs): a case variant
/// or a look-alike of a security member is an error, a member nobody knows a warning.
/// </summary>
public static partial class DesiredPropertiesParser
{
    /// <summary>
    /// Case variants of known members and look-alikes of security members are errors; members nobody knows are
    /// warnings.
    /// </summary>
    private static void CheckMembers(JObject doc, List<string> errors, List<string> warnings)
    {
        CheckObject(doc, null, TopMembers, SecurityTopMembers, errors, warnings);
        foreach (var (member, known) in ObjectMembers)
        {
            if (doc[member] is JObject obj)
            {
                CheckObject(obj, member, known, [], errors, warnings);
            }
        }

        foreach (var (path, known) in NestedObjectMembers)
        {
            if (At(doc, path) is { } obj)
            {
                CheckObject(obj, path, known, [], errors, warnings);
            }
        }

        foreach (var (member, known) in MapEntryMembers)
        {
            var security = SecurityEntryMembers.First(s => s.Member == member).Security;
            if (doc[member] is JObject map)
            {
                foreach (var entry in map.Properties())
                {
                    if (entry.Value is JObject obj)
                    {
                        CheckObject(obj, $"{member}.{entry.Name}", known, security, errors, warnings);
                    }
                }
            }
        }
    }

    /// <summary>The object at a dotted path of <paramref name="doc"/>, or null when any step is missing or not an object.</summary>
    private static JObject? At(JObject doc, string path)
    {
        JObject? current = doc;
        foreach (var step in path.Split('.'))
        {
            current = current?[step] as JObject;
        }

        return current;
    }

    private static void CheckObject(JObject obj, string? path, string[] known, string[] security, List<string> errors, List<string> warnings)
    {
        foreach (var property in obj.Properties())
        {
            if (known.Contains(property.Name, StringComparer.Ordinal))
            {
                continue;
            }

            var name = path is null ? property.Name : $"{path}.{property.Name}";
            var meant = known.FirstOrDefault(k => string.Equals(k, property.Name, StringComparison.OrdinalIgnoreCase));
            var lookalike = meant is null ? security.FirstOrDefault(k => MemberLikeness.IsNearMiss(property.Name, k)) : null;
            if (meant is not null)
            {
                errors.Add($"'{Shorten(name)}' is not a member; did you mean '{(path is null ? meant : $"{path}.{meant}")}'? (member names are case-sensitive)");
            }
            else if (lookalike is not null)
            {
                var visible = MemberLikeness.Visible(Shorten(name));
                errors.Add($"'{visible}' is not a member but looks like the security member '{(path is null ? lookalike : $"{path}.{lookalike}")}': the document is rejected rather than applied without it");
            }
            else
            {
                warnings.Add(Shorten(name));
            }
        }
    }
}
