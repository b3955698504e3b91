using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Newtonsoft.Json;

namespace ConnectedRegistry.Distribution;

/// <summary>
/// <c>GET /v2/&lt;name&gt;/referrers/&lt;digest&gt;[?artifactType=]</c>: an OCI image index of the manifests whose
/// <c>subject</c> is the digest; always 200 (an empty index when there are none), with
/// <c>OCI-Filters-Applied: artifactType</c> when the filter was used.
/// </summary>
internal static class ReferrerEndpoints
{
    public static Task ListAsync(HttpContext context, OciRoute route)
    {
        var repository = DistributionEndpoints.RepositoryOf(route);
        var subject = DistributionEndpoints.ParseDigest(route.Reference);
        var artifactType = context.Request.Query["artifactType"].ToString();
        var filter = string.IsNullOrEmpty(artifactType) ? null : artifactType;
        var store = context.RequestServices.GetRequiredService<RegistryStore>();
        var referrers = store.ListReferrers(repository, subject, filter);

        var manifests = referrers.Select(d =>
        {
            var entry = new Dictionary<string, object>
            {
                ["mediaType"] = d.MediaType,
                ["digest"] = d.Digest.ToString(),
                ["size"] = d.Size,
            };
            if (d.ArtifactType is not null)
            {
                entry["artifactType"] = d.ArtifactType;
            }

            if (d.Annotations is { Count: > 0 })
            {
                entry["annotations"] = d.Annotations;
            }

            return entry;
        }).ToList();

        if (filter is not null)
        {
            context.Response.Headers["OCI-Filters-Applied"] = "artifactType";
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = MediaTypes.OciIndex;
        var body = JsonConvert.SerializeObject(new Dictionary<string, object>
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciIndex,
            ["manifests"] = manifests,
        });
        return context.Response.WriteAsync(body, context.RequestAborted);
    }
}
