using System.Text.RegularExpressions;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Distribution;

public enum DistributionResource
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
/// before the last resource keyword, so nested names (<c>a/b/c</c>) work. The name and the reference are
/// raw text here; handlers validate them before they touch storage.
/// </summary>
public sealed partial record DistributionRoute(DistributionResource Resource, string Name, string Reference)
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

    /// <summary>The <c>route</c> label of the HTTP metrics for this resource.</summary>
    public string MetricsKind => Resource switch
    {
        DistributionResource.Base => RouteKinds.Base,
        DistributionResource.Catalog => RouteKinds.Catalog,
        DistributionResource.Tags => RouteKinds.Tags,
        DistributionResource.Manifest => RouteKinds.Manifest,
        DistributionResource.Blob => RouteKinds.Blob,
        DistributionResource.UploadStart or DistributionResource.Upload => RouteKinds.Upload,
        DistributionResource.Referrers => RouteKinds.Referrers,
        _ => RouteKinds.Other,
    };

    /// <param name="path">The request path after <c>/v2/</c> (decoded, without a leading slash).</param>
    public static DistributionRoute? Parse(string path)
    {
        if (path.Length == 0)
        {
            return new DistributionRoute(DistributionResource.Base, string.Empty, string.Empty);
        }

        if (path is "_catalog" or "_catalog/")
        {
            return new DistributionRoute(DistributionResource.Catalog, string.Empty, string.Empty);
        }

        // Order matters: an upload path also looks like a blob path.
        (Regex Pattern, DistributionResource Resource)[] table =
        [
            (TagsPath(), DistributionResource.Tags),
            (ManifestPath(), DistributionResource.Manifest),
            (UploadStartPath(), DistributionResource.UploadStart),
            (UploadPath(), DistributionResource.Upload),
            (BlobPath(), DistributionResource.Blob),
            (ReferrersPath(), DistributionResource.Referrers),
        ];
        foreach (var (pattern, resource) in table)
        {
            var match = pattern.Match(path);
            if (match.Success)
            {
                return new DistributionRoute(resource, match.Groups["name"].Value, match.Groups["ref"].Success ? match.Groups["ref"].Value : string.Empty);
            }
        }

        return null;
    }
}
