using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary><c>bundles</c>: the exporter public keys whose signed offline bundles this registry imports.</summary>
public static partial class DesiredPropertiesParser
{
    private static BundleSettings ParseBundles(JObject doc, List<string> errors)
    {
        if (Obj(doc, "bundles", "bundles", errors) is not { } bundles ||
            !bundles.TryGetValue("trustedKeys", out var value) || value.Type == JTokenType.Null)
        {
            return new BundleSettings();
        }

        if (value is not JArray array)
        {
            errors.Add("bundles.trustedKeys must be an array of public keys (PEM or base64 SubjectPublicKeyInfo, ECDSA P-256)");
            return new BundleSettings();
        }

        if (array.Count > BundleSettings.MaxTrustedKeys)
        {
            errors.Add($"bundles.trustedKeys has {array.Count} keys; at most {BundleSettings.MaxTrustedKeys} are allowed");
            return new BundleSettings();
        }

        var keys = new List<TrustedBundleKey>();
        for (var i = 0; i < array.Count; i++)
        {
            if (array[i].Type != JTokenType.String)
            {
                errors.Add($"bundles.trustedKeys[{i}] must be a string");
            }
            else if (!TrustedBundleKey.TryParse(array[i].Value<string>()!, out var key, out var reason))
            {
                errors.Add($"bundles.trustedKeys[{i}] {reason}");
            }
            else if (keys.All(k => k.Id != key!.Id))
            {
                keys.Add(key!);
            }
        }

        return new BundleSettings { TrustedKeys = keys };
    }
}
