using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Core;

/// <summary>
/// The route of a <c>/v2</c> request, parsed once (<see cref="OciRoute"/>) and read by everything that needs it:
/// access control (Auth), the dispatcher (Distribution) and the request metrics (Monitoring). Before, each of them
/// parsed the path again, and Auth and Monitoring had to use Distribution for the parser.
/// </summary>
public sealed class OciRouteFeature(OciRoute? route)
{
    /// <summary>The parsed route; null for a path under <c>/v2</c> that no resource serves.</summary>
    public OciRoute? Route { get; } = route;

    /// <summary>
    /// The feature of a <c>/v2</c> request (null for any other path): the one <see cref="OciRouteMiddleware"/> set,
    /// or, in a pipeline without it (a test's own app), parsed here and set, so it is still parsed only once.
    /// </summary>
    public static OciRouteFeature? Of(HttpContext context)
    {
        if (context.Features.Get<OciRouteFeature>() is { } parsed)
        {
            return parsed;
        }

        var route = OciRoute.ParseRequestPath(context.Request.Path.Value ?? string.Empty, out var isApi);
        if (!isApi)
        {
            return null;
        }

        var feature = new OciRouteFeature(route);
        context.Features.Set(feature);
        return feature;
    }
}

/// <summary>
/// First in the registry's pipeline: parses the route of a <c>/v2</c> request once and sets it as the request's
/// <see cref="OciRouteFeature"/>, so the request metrics see it even for a request refused before the endpoints.
/// </summary>
public sealed class OciRouteMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        OciRouteFeature.Of(context);
        return next(context);
    }
}
