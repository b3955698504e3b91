using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Newtonsoft.Json;

namespace ConnectedRegistry.Distribution;

/// <summary><c>GET /v2/&lt;name&gt;/tags/list</c>: sorted, with <c>n</c>/<c>last</c> pagination and a <c>Link</c> to the next page.</summary>
internal static class TagEndpoints
{
    public static Task ListAsync(HttpContext context, OciRoute route)
    {
        var repository = DistributionEndpoints.RepositoryOf(route);
        var store = context.RequestServices.GetRequiredService<RegistryStore>();
        if (!store.RepositoryExists(repository))
        {
            throw new OciException(OciErrorCode.NameUnknown, detail: new { name = repository });
        }

        var n = DistributionEndpoints.PageSize(context);
        var last = context.Request.Query["last"].ToString();
        var page = n == 0 ? [] : store.ListTags(repository, string.IsNullOrEmpty(last) ? null : last, n is { } limit ? limit + 1 : null);
        var tags = page.Select(t => t.Tag).Take(n ?? int.MaxValue).ToList();
        if (n is { } size && size > 0 && page.Count > size)
        {
            DistributionEndpoints.SetNextLink(context, $"/v2/{repository}/tags/list", size, tags[^1]);
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonConvert.SerializeObject(new { name = repository, tags }), context.RequestAborted);
    }
}
