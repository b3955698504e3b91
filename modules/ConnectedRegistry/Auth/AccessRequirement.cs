using ConnectedRegistry.Core;
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

/// <summary>
/// One needed permission. An <see cref="Optional"/> need (the source of a cross-repository mount) is
/// not refused when the identity lacks it: the endpoint then declines the mount and opens a normal
/// upload session, as the spec allows, so clients that try mounts opportunistically keep working.
/// </summary>
public sealed record AccessNeed(string Repository, string Action, bool Optional = false);

/// <summary>
/// What a /v2 request needs, derived from its method, route and query. The route is the one the request's
/// <see cref="OciRouteFeature"/> holds, parsed once for access control and the endpoints alike, so they can
/// never disagree about which repository a request touches (names may be nested:
/// <c>/v2/a/b/c/manifests/latest</c>). <see cref="IsClientWrite"/> marks the requests a ReadOnly
/// registry refuses. A verb no endpoint serves on a repository route still needs content/write there,
/// so a new verb added to the endpoints later can never slip past access control.
/// </summary>
public sealed record AccessRequirement(AccessKind Kind, IReadOnlyList<AccessNeed> Needs, bool IsClientWrite)
{
    private static readonly AccessRequirement BaseRequirement = new(AccessKind.Base, [], false);
    private static readonly AccessRequirement CatalogRequirement = new(AccessKind.Catalog, [], false);
    private static readonly AccessRequirement UnknownRequirement = new(AccessKind.Unknown, [], false);

    /// <summary><paramref name="path"/> is the decoded request path, starting with <c>/v2</c>.</summary>
    public static AccessRequirement For(string method, string path, Func<string, StringValues>? query = null) =>
        For(method, OciRoute.Parse(path.Length > 4 ? path[4..] : string.Empty), query); // after "/v2/"

    /// <summary><paramref name="route"/> is the request's parsed route, null when no resource serves its path.</summary>
    public static AccessRequirement For(string method, OciRoute? route, Func<string, StringValues>? query = null)
    {
        if (route is null)
        {
            return UnknownRequirement; // the endpoints answer 404 to every verb
        }

        var name = route.Name;
        var read = method == HttpMethods.Get || method == HttpMethods.Head;
        switch (route.Resource)
        {
            case OciResource.Base:
                return BaseRequirement;
            case OciResource.Catalog:
                return CatalogRequirement;
            case OciResource.Tags:
                return read ? Repo(name, RegistryActions.MetadataRead, write: false) : Unserved(name);
            case OciResource.Referrers:
                return read ? Repo(name, RegistryActions.ContentRead, write: false) : Unserved(name);
            case OciResource.Manifest:
                return read ? Repo(name, RegistryActions.ContentRead, write: false)
                    : method == HttpMethods.Put ? Repo(name, RegistryActions.ContentWrite, write: true)
                    : method == HttpMethods.Delete ? Repo(name, RegistryActions.ContentDelete, write: true)
                    : Unserved(name);
            case OciResource.Blob:
                return read ? Repo(name, RegistryActions.ContentRead, write: false)
                    : method == HttpMethods.Delete ? Repo(name, RegistryActions.ContentDelete, write: true)
                    : Unserved(name);
            case OciResource.UploadStart:
                if (method != HttpMethods.Post)
                {
                    return Unserved(name);
                }

                var from = query?.Invoke("from").ToString();
                var mount = query?.Invoke("mount").ToString();
                if (!string.IsNullOrEmpty(mount) && RepositoryName.IsValid(from))
                {
                    return new AccessRequirement(AccessKind.Repository, [new(name, RegistryActions.ContentWrite), new(from, RegistryActions.ContentRead, Optional: true)], true);
                }

                return Repo(name, RegistryActions.ContentWrite, write: true);
            case OciResource.Upload:
                // Upload status (GET) is part of a push but changes nothing.
                return method == HttpMethods.Get ? Repo(name, RegistryActions.ContentWrite, write: false)
                    : method == HttpMethods.Patch || method == HttpMethods.Put || method == HttpMethods.Delete ? Repo(name, RegistryActions.ContentWrite, write: true)
                    : Unserved(name);
            default:
                return Unserved(name);
        }
    }

    private static AccessRequirement Repo(string name, string action, bool write) =>
        new(AccessKind.Repository, [new AccessNeed(name, action)], write);

    private static AccessRequirement Unserved(string name) => Repo(name, RegistryActions.ContentWrite, write: false);
}
