using System.Text.RegularExpressions;

namespace ConnectedRegistry.Oci;

public enum OciResource
{
    Base,
    Catalog,
    Tags,
    Manifest,
    Blob,
    UploadStart,
    Upload,
    Referrers,
}

/// <summary>
/// A parsed <c>/v2/…</c> path, the way distribution's router reads it: the repository name is everything
/// before the last resource keyword, so nested names (<c>a/b/c</c>) work, and so does a name with a component
/// that is itself a keyword (<c>a/blobs/b</c>, valid in the spec's name grammar): the spec's paths put the name
/// first and the resource after it, so only the last keyword can be the resource. The name and the reference are
/// raw text here; handlers validate them before they touch storage. This is the one parser of these paths: the
/// server parses each request once (<c>Core/OciRouteFeature</c>) for auth, the endpoints and the metrics, and the
/// sync client derives the scope of its requests to the parent from it.
/// </summary>
public sealed partial record OciRoute(OciResource Resource, string Name, string Reference)
{
    [GeneratedRegex(@"^(?<name>.*)/manifests/(?<ref>[^/]*)\z", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex ManifestPath();

    [GeneratedRegex(@"^(?<name>.*)/blobs/uploads/?\z", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex UploadStartPath();

    [GeneratedRegex(@"^(?<name>.*)/blobs/uploads/(?<ref>[^/]+)\z", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex UploadPath();

    [GeneratedRegex(@"^(?<name>.*)/blobs/(?<ref>[^/]*)\z", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex BlobPath();

    [GeneratedRegex(@"^(?<name>.*)/referrers/(?<ref>[^/]*)\z", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex ReferrersPath();

    [GeneratedRegex(@"^(?<name>.*)/tags/list/?\z", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex TagsPath();

    /// <summary>
    /// Parses the path of a request when it is under <c>/v2</c> (as routing matches it: the segment
    /// case-insensitively, <c>/v2</c>, <c>/v2/</c> or <c>/v2/…</c>); <paramref name="isApi"/> is false for any
    /// other path. A path under <c>/v2</c> that no resource serves is an API path with a null route.
    /// </summary>
    public static OciRoute? ParseRequestPath(string path, out bool isApi)
    {
        isApi = path.StartsWith("/v2", StringComparison.OrdinalIgnoreCase) && (path.Length == 3 || path[3] == '/');
        return isApi ? Parse(path.Length > 4 ? path[4..] : string.Empty) : null; // after "/v2/"
    }

    /// <param name="path">The request path after <c>/v2/</c> (decoded, without a leading slash).</param>
    public static OciRoute? Parse(string path)
    {
        if (path.Length == 0)
        {
            return new OciRoute(OciResource.Base, string.Empty, string.Empty);
        }

        if (path is "_catalog" or "_catalog/")
        {
            return new OciRoute(OciResource.Catalog, string.Empty, string.Empty);
        }

        // Order matters: an upload path also looks like a blob path.
        (Regex Pattern, OciResource Resource)[] table =
        [
            (TagsPath(), OciResource.Tags),
            (ManifestPath(), OciResource.Manifest),
            (UploadStartPath(), OciResource.UploadStart),
            (UploadPath(), OciResource.Upload),
            (BlobPath(), OciResource.Blob),
            (ReferrersPath(), OciResource.Referrers),
        ];
        foreach (var (pattern, resource) in table)
        {
            var match = pattern.Match(path);
            if (match.Success)
            {
                return new OciRoute(resource, match.Groups["name"].Value, match.Groups["ref"].Success ? match.Groups["ref"].Value : string.Empty);
            }
        }

        return null;
    }
}
