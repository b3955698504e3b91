using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using Newtonsoft.Json;

namespace ConnectedRegistry.Distribution;

/// <summary>
/// <c>GET /v2/_catalog</c> with <c>n</c>/<c>last</c> pagination. When Auth/ put an
/// <see cref="IRepositoryAccessFeature"/> on the request, only repositories the caller may read metadata of are listed.
/// </summary>
internal static class CatalogEndpoints
{
    private const int ScanBatch = 500;

    public static Task ListAsync(HttpContext context)
    {
        var store = context.RequestServices.GetRequiredService<RegistryStore>();
        var access = context.Features.Get<IRepositoryAccessFeature>();
        var n = DistributionEndpoints.PageSize(context);
        var last = context.Request.Query["last"].ToString();
        var cursor = string.IsNullOrEmpty(last) ? null : last;
        var wanted = n is { } limit ? limit + 1 : int.MaxValue;
        var visible = new List<string>();
        while (n != 0 && visible.Count < wanted)
        {
            var batch = store.ListRepositories(cursor, ScanBatch);
            foreach (var name in batch)
            {
                if (access is null || access.Can(name, RegistryActions.MetadataRead))
                {
                    visible.Add(name);
                    if (visible.Count == wanted)
                    {
                        break;
                    }
                }
            }

            if (batch.Count < ScanBatch)
            {
                break;
            }

            cursor = batch[^1];
        }

        var repositories = visible.Take(n ?? int.MaxValue).ToList();
        if (n is { } size && size > 0 && visible.Count > size)
        {
            DistributionEndpoints.SetNextLink(context, "/v2/_catalog", size, repositories[^1]);
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonConvert.SerializeObject(new { repositories }), context.RequestAborted);
    }
}
