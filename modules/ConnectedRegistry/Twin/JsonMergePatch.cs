using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// Twin document helpers: merge a patch (a member set to null deletes it), compute the patch that
/// turns one document into another, and drop the service's <c>$</c>-members (<c>$version</c>, <c>$metadata</c>).
/// </summary>
public static class JsonMergePatch
{
    /// <summary>Returns a new document: <paramref name="target"/> with <paramref name="patch"/> merged in.</summary>
    public static JObject Apply(JObject target, JObject patch)
    {
        var result = (JObject)target.DeepClone();
        Merge(result, patch);
        return result;
    }

    private static void Merge(JObject target, JObject patch)
    {
        foreach (var property in patch.Properties())
        {
            if (property.Value.Type == JTokenType.Null)
            {
                target.Remove(property.Name);
            }
            else if (property.Value is JObject patchObject && target[property.Name] is JObject targetObject)
            {
                Merge(targetObject, patchObject);
            }
            else if (property.Value is JObject newObject)
            {
                var fresh = new JObject();
                Merge(fresh, newObject); // nulls inside a new object delete nothing and are not kept
                target[property.Name] = fresh;
            }
            else
            {
                target[property.Name] = property.Value.DeepClone();
            }
        }
    }

    /// <summary>The patch that turns <paramref name="from"/> into <paramref name="to"/> (null for removed members); empty when equal.</summary>
    public static JObject Diff(JObject from, JObject to)
    {
        var patch = new JObject();
        foreach (var property in to.Properties())
        {
            var old = from[property.Name];
            if (old is null || old.Type == JTokenType.Null)
            {
                // Missing and null are the same in a twin (null deletes): nothing to send for a null.
                if (property.Value.Type != JTokenType.Null)
                {
                    patch[property.Name] = property.Value.DeepClone();
                }
            }
            else if (old is JObject oldObject && property.Value is JObject newObject)
            {
                var inner = Diff(oldObject, newObject);
                if (inner.Count > 0)
                {
                    patch[property.Name] = inner;
                }
            }
            else if (!JToken.DeepEquals(old, property.Value))
            {
                patch[property.Name] = property.Value.DeepClone();
            }
        }

        foreach (var property in from.Properties())
        {
            if ((to[property.Name] is null || to[property.Name]!.Type == JTokenType.Null) && property.Value.Type != JTokenType.Null)
            {
                patch[property.Name] = JValue.CreateNull();
            }
        }

        return patch;
    }

    /// <summary>A copy without members whose name starts with <c>$</c>, at every depth.</summary>
    public static JObject WithoutMetadata(JObject document)
    {
        var copy = new JObject();
        foreach (var property in document.Properties())
        {
            if (property.Name.StartsWith('$'))
            {
                continue;
            }

            copy[property.Name] = property.Value is JObject inner ? WithoutMetadata(inner) : property.Value.DeepClone();
        }

        return copy;
    }

    /// <summary>The document's <c>$version</c>, or null when it has none.</summary>
    public static long? Version(JObject document) =>
        document["$version"] is JValue { Type: JTokenType.Integer } value ? value.Value<long>() : null;
}
