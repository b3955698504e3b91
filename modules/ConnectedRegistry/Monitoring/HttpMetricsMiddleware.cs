using System.Diagnostics;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.Hierarchy;
using Microsoft.AspNetCore.Http.Features;

namespace ConnectedRegistry.Monitoring;

/// <summary>
/// First in the registry's pipeline: times every request, counts its body bytes both ways, and when it is done
/// records it in <see cref="RegistryMetrics"/> by route kind, method and status class, and writes the access log
/// line when <c>--access-log</c> asked for one. The route kind of a <c>/v2</c> request is read from the route parsed
/// once for the request (<see cref="OciRouteFeature"/>), also for a request refused before the endpoints.
/// </summary>
internal sealed class HttpMetricsMiddleware(RequestDelegate next, RegistryMetrics metrics, AccessLog accessLog)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var features = context.Features;

        // One object per request counts both ways, without closures: it is the response body feature, and the
        // request body (when there is one) is wrapped to report to it.
        var originalResponse = features.Get<IHttpResponseBodyFeature>()!;
        var counted = new CountingResponseBody(originalResponse);
        features.Set<IHttpResponseBodyFeature>(counted);
        if (features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true)
        {
            context.Request.Body = new CountingStream(context.Request.Body, counted, received: true);
        }

        var escaped = false;
        try
        {
            await next(context);
        }
        catch
        {
            escaped = true;
            throw;
        }
        finally
        {
            features.Set(originalResponse);
            var elapsed = Stopwatch.GetElapsedTime(started);
            var kind = Classify(context);
            // An exception that escaped every handler becomes a 500 from the server (or a reset once the response started).
            var status = escaped && !context.Response.HasStarted ? StatusCodes.Status500InternalServerError : context.Response.StatusCode;
            metrics.RequestServed(kind, context.Request.Method, status, elapsed, counted.Received, counted.Bytes);
            if (accessLog.Enabled)
            {
                accessLog.Write(context, status, counted.Bytes, elapsed);
            }
        }
    }

    /// <summary>The route kind of a request: a <c>/v2</c> one by its parsed route, the others by their prefix.</summary>
    internal static string Classify(HttpContext context)
    {
        if (OciRouteFeature.Of(context) is { } api)
        {
            return RouteKinds.Of(api.Route);
        }

        var path = context.Request.Path;

        if (IsTokenPath(path))
        {
            return RouteKinds.Token;
        }

        return path.StartsWithSegments(HierarchyEndpoints.Prefix, StringComparison.OrdinalIgnoreCase)
            || path.StartsWithSegments(HierarchyEndpoints.LegacyPrefix, StringComparison.OrdinalIgnoreCase)
            ? RouteKinds.Hierarchy
            : RouteKinds.Other;
    }

    /// <summary>The token endpoint, under <c>/acr/</c> or at its old path.</summary>
    internal static bool IsTokenPath(PathString path) =>
        path.StartsWithSegments(TokenEndpoint.Path, StringComparison.OrdinalIgnoreCase)
        || path.StartsWithSegments(TokenEndpoint.LegacyPath, StringComparison.OrdinalIgnoreCase);
}
