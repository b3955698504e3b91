using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using Microsoft.Extensions.Primitives;

namespace ConnectedRegistry.Distribution;

/// <summary>
/// The OCI Distribution API under <c>/v2/</c>: every request goes through one dispatcher that takes the route
/// parsed once for the request (<see cref="OciRouteFeature"/>) and hands it to the handler of its resource, one file per resource.
/// </summary>
public static class DistributionEndpoints
{
    public const string ApiVersionHeader = "Docker-Distribution-API-Version";
    public const string ApiVersion = "registry/2.0";

    public static IEndpointRouteBuilder MapDistributionApi(this IEndpointRouteBuilder endpoints)
    {
        // Every method reaches the dispatcher, so an unknown one (OPTIONS, a made-up verb) is UNSUPPORTED in the envelope.
        endpoints.Map("/v2", DispatchAsync).WithDisplayName("OCI distribution (base)");
        endpoints.Map("/v2/{**path}", DispatchAsync).WithDisplayName("OCI distribution");
        return endpoints;
    }

    /// <summary>
    /// A push or upload reserves its <c>Content-Length</c> on the data volume before a byte is read (refused when the
    /// volume is below <c>storage.minFreeBytes</c>, or would be with the writes under way), and its body is checked again
    /// chunk by chunk as it arrives (a streamed body declares nothing); the reservation ends with the response. A push
    /// that would take the volume below the eviction mark, or be refused below the minimum, first waits (bounded) for an
    /// eviction of content fetched on demand when there is any (<see cref="Storage.FreeSpaceGuard.ReserveAsync"/>).
    /// </summary>
    private static async Task ReserveSpaceAsync(HttpContext context)
    {
        if (context.RequestServices.GetService<Storage.FreeSpaceGuard>() is not { } guard)
        {
            return;
        }

        var reservation = await guard.ReserveAsync(context.Request.ContentLength ?? 0, "pushes are refused until space is freed; pulls keep working", context.RequestAborted);
        context.Response.RegisterForDispose(reservation);
        context.Request.Body = reservation.Guard(context.Request.Body);
    }

    private static async Task DispatchAsync(HttpContext context)
    {
        context.Response.Headers[ApiVersionHeader] = ApiVersion;
        var route = OciRouteFeature.Of(context)?.Route
            ?? throw new OciException(OciErrorCode.NameUnknown.WithStatus(System.Net.HttpStatusCode.NotFound), "no such API resource");
        var method = context.Request.Method;
        if (method is "POST" or "PUT" or "PATCH" && route.Resource is OciResource.UploadStart or OciResource.Upload or OciResource.Manifest)
        {
            await ReserveSpaceAsync(context);
        }

        await (route.Resource switch
        {
            OciResource.Base => Only(method, ["GET", "HEAD"], () => BaseAsync(context)),
            OciResource.Catalog => Only(method, ["GET"], () => CatalogEndpoints.ListAsync(context)),
            OciResource.Tags => Only(method, ["GET"], () => TagEndpoints.ListAsync(context, route)),
            OciResource.Referrers => Only(method, ["GET"], () => ReferrerEndpoints.ListAsync(context, route)),
            OciResource.Manifest => method switch
            {
                "GET" or "HEAD" => ManifestEndpoints.GetAsync(context, route),
                "PUT" => ManifestEndpoints.PutAsync(context, route),
                "DELETE" => ManifestEndpoints.DeleteAsync(context, route),
                _ => throw Unsupported(),
            },
            OciResource.Blob => method switch
            {
                "GET" or "HEAD" => BlobEndpoints.GetAsync(context, route),
                "DELETE" => BlobEndpoints.DeleteAsync(context, route),
                _ => throw Unsupported(),
            },
            OciResource.UploadStart => Only(method, ["POST"], () => BlobUploadEndpoints.StartAsync(context, route)),
            OciResource.Upload => method switch
            {
                "GET" => BlobUploadEndpoints.StatusAsync(context, route),
                "PATCH" => BlobUploadEndpoints.PatchAsync(context, route),
                "PUT" => BlobUploadEndpoints.PutAsync(context, route),
                "DELETE" => BlobUploadEndpoints.DeleteAsync(context, route),
                _ => throw Unsupported(),
            },
            _ => throw Unsupported(),
        });
    }

    private static Task BaseAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = 2;
        return context.Request.Method == "HEAD" ? Task.CompletedTask : context.Response.WriteAsync("{}", context.RequestAborted);
    }

    private static Task Only(string method, string[] allowed, Func<Task> handler) =>
        allowed.Contains(method) ? handler() : throw Unsupported();

    internal static OciException Unsupported() => new(OciErrorCode.Unsupported, "method not allowed on this resource");

    /// <summary>The repository name of the route, validated against the spec's grammar (else <c>NAME_INVALID</c>).</summary>
    internal static string RepositoryOf(OciRoute route) =>
        RepositoryName.IsValid(route.Name) ? route.Name : throw new OciException(OciErrorCode.NameInvalid, "invalid repository name");

    internal static Digest ParseDigest(string? text) =>
        Digest.TryParse(text, out var digest) ? digest : throw new OciException(OciErrorCode.DigestInvalid, "invalid digest");

    /// <summary>Reads the <c>n</c> pagination parameter: null when absent, else 0..10000 (else <c>PAGINATION_NUMBER_INVALID</c>).</summary>
    internal static int? PageSize(HttpContext context)
    {
        var values = context.Request.Query["n"];
        if (StringValues.IsNullOrEmpty(values))
        {
            return null;
        }

        if (!int.TryParse(values.ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
        {
            throw new OciException(OciErrorCode.PaginationNumberInvalid);
        }

        return Math.Min(n, 10000);
    }

    internal static void SetNextLink(HttpContext context, string path, int n, string last) =>
        context.Response.Headers.Link = $"<{path}?n={n}&last={Uri.EscapeDataString(last)}>; rel=\"next\"";
}
