using System.Text.RegularExpressions;
using ConnectedRegistry.Hosting;
using ConnectedRegistry.Oci;
using Microsoft.Extensions.Primitives;

namespace ConnectedRegistry.Auth;

public enum AccessKind
{
    /// <summary><c>/v2/</c>: any authenticated identity (clients probe it to learn the auth scheme).</summary>
    Base,

    /// <summary><c>/v2/_catalog</c>: any authenticated identity; the endpoint filters by metadata/read.</summary>
    Catalog,

    /// <summary>A repository operation: every (repository, action) pair must be held.</summary>
    Repository,

    /// <summary>A /v2 path or verb no route serves: let the endpoints answer (404/405), but only to callers allowed in at all.</summary>
    Unknown,
}

/// <summary>One needed permission.</summary>
public sealed record AccessNeed(string Repository, string Action);

/// <summary>
/// What a /v2 request needs, derived from its method, path and query with the spec's route grammar
/// (names may be nested: <c>/v2/a/b/c/manifests/latest</c>). <see cref="IsClientWrite"/> marks the
/// requests a ReadOnly registry refuses.
/// </summary>
public sealed partial record AccessRequirement(AccessKind Kind, IReadOnlyList<AccessNeed> Needs, bool IsClientWrite)
{
    private const string Name = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*)*";

    [GeneratedRegex("^/v2/(?<name>" + Name + ")/blobs/uploads/?(?<id>[^/]*)$", RegexOptions.CultureInvariant)]
    private static partial Regex UploadsRoute();

    [GeneratedRegex("^/v2/(?<name>" + Name + ")/blobs/(?<digest>[^/]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex BlobRoute();

    [GeneratedRegex("^/v2/(?<name>" + Name + ")/manifests/(?<reference>[^/]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex ManifestRoute();

    [GeneratedRegex("^/v2/(?<name>" + Name + ")/tags/list$", RegexOptions.CultureInvariant)]
    private static partial Regex TagsRoute();

    [GeneratedRegex("^/v2/(?<name>" + Name + ")/referrers/(?<digest>[^/]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex ReferrersRoute();

    private static readonly AccessRequirement BaseRequirement = new(AccessKind.Base, [], false);
    private static readonly AccessRequirement CatalogRequirement = new(AccessKind.Catalog, [], false);
    private static readonly AccessRequirement UnknownRequirement = new(AccessKind.Unknown, [], false);

    /// <summary>The repository named by the route, when there is one (the target for mounts).</summary>
    public string? Repository => Needs.Count > 0 ? Needs[0].Repository : null;

    /// <summary><paramref name="path"/> is the decoded request path, starting with <c>/v2</c>.</summary>
    public static AccessRequirement For(string method, string path, Func<string, StringValues>? query = null)
    {
        if (path is "/v2" or "/v2/")
        {
            return BaseRequirement;
        }

        if (path is "/v2/_catalog")
        {
            return IsRead(method) ? CatalogRequirement : UnknownRequirement;
        }

        Match m;
        if ((m = UploadsRoute().Match(path)).Success)
        {
            var name = m.Groups["name"].Value;
            var hasId = m.Groups["id"].Value.Length > 0;
            if (IsRead(method) && hasId)
            {
                // Upload status is part of a push.
                return Repo(name, RegistryActions.ContentWrite, write: false);
            }

            if (method == HttpMethods.Post && !hasId)
            {
                var from = query?.Invoke("from").ToString();
                var mount = query?.Invoke("mount").ToString();
                if (!string.IsNullOrEmpty(mount) && RepositoryName.IsValid(from))
                {
                    return new AccessRequirement(AccessKind.Repository, [new(name, RegistryActions.ContentWrite), new(from, RegistryActions.ContentRead)], true);
                }

                return Repo(name, RegistryActions.ContentWrite, write: true);
            }

            if (hasId && (method == HttpMethods.Patch || method == HttpMethods.Put || method == HttpMethods.Delete))
            {
                return Repo(name, RegistryActions.ContentWrite, write: true);
            }

            return UnknownRequirement;
        }

        if ((m = BlobRoute().Match(path)).Success)
        {
            return ReadOrDelete(method, m.Groups["name"].Value);
        }

        if ((m = ManifestRoute().Match(path)).Success)
        {
            var name = m.Groups["name"].Value;
            return method == HttpMethods.Put ? Repo(name, RegistryActions.ContentWrite, write: true) : ReadOrDelete(method, name);
        }

        if ((m = TagsRoute().Match(path)).Success)
        {
            return IsRead(method) ? Repo(m.Groups["name"].Value, RegistryActions.MetadataRead, write: false) : UnknownRequirement;
        }

        if ((m = ReferrersRoute().Match(path)).Success)
        {
            return IsRead(method) ? Repo(m.Groups["name"].Value, RegistryActions.ContentRead, write: false) : UnknownRequirement;
        }

        return UnknownRequirement;
    }

    private static bool IsRead(string method) => method == HttpMethods.Get || method == HttpMethods.Head;

    private static AccessRequirement ReadOrDelete(string method, string name) =>
        IsRead(method) ? Repo(name, RegistryActions.ContentRead, write: false)
        : method == HttpMethods.Delete ? Repo(name, RegistryActions.ContentDelete, write: true)
        : UnknownRequirement;

    private static AccessRequirement Repo(string name, string action, bool write) =>
        new(AccessKind.Repository, [new AccessNeed(name, action)], write);
}
