using System.Net.Http.Headers;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Distribution;

/// <summary><c>GET</c>/<c>HEAD</c>/<c>DELETE /v2/&lt;name&gt;/blobs/&lt;digest&gt;</c>. Bodies are sent from the file (sendfile), with range support.</summary>
internal static class BlobEndpoints
{
    public static async Task GetAsync(HttpContext context, DistributionRoute route)
    {
        var repository = DistributionEndpoints.RepositoryOf(route);
        var digest = DistributionEndpoints.ParseDigest(route.Reference);
        var store = context.RequestServices.GetRequiredService<RegistryStore>();
        var file = new FileInfo(store.BlobFilePath(digest));
        if (!file.Exists || !store.IsBlobInRepository(repository, digest))
        {
            throw new OciException(OciErrorCode.BlobUnknown, detail: new { digest = digest.ToString() });
        }

        var response = context.Response;
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        response.Headers.ETag = $"\"{digest}\"";
        response.Headers.CacheControl = "max-age=31536000";
        response.Headers.AcceptRanges = "bytes";
        if (context.Request.Method == HttpMethods.Head)
        {
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/octet-stream";
            response.ContentLength = file.Length;
            return;
        }

        var byteRange = CheckRange(context, file.Length);
        try
        {
            // Only a byte range is served partially: ASP.NET's range processing does not look at the unit.
            await Results.File(file.FullName, "application/octet-stream", enableRangeProcessing: byteRange).ExecuteAsync(context);
        }
        catch (FileNotFoundException) when (!response.HasStarted)
        {
            throw new OciException(OciErrorCode.BlobUnknown, detail: new { digest = digest.ToString() });
        }
    }

    public static async Task DeleteAsync(HttpContext context, DistributionRoute route)
    {
        var repository = DistributionEndpoints.RepositoryOf(route);
        var digest = DistributionEndpoints.ParseDigest(route.Reference);
        var store = context.RequestServices.GetRequiredService<RegistryStore>();
        if (!await store.UnlinkBlobAsync(repository, digest, context.RequestAborted))
        {
            throw new OciException(OciErrorCode.BlobUnknown, detail: new { digest = digest.ToString() });
        }

        context.Response.StatusCode = StatusCodes.Status202Accepted;
        context.Response.ContentLength = 0;
    }

    /// <summary>
    /// A single byte range that starts past the end is answered with <c>RANGE_INVALID</c> (416) in the OCI envelope.
    /// Returns true when the request carries a byte range to serve, false when the whole blob is to be sent.
    /// </summary>
    private static bool CheckRange(HttpContext context, long length)
    {
        var header = context.Request.Headers.Range.ToString();
        if (string.IsNullOrEmpty(header))
        {
            return false;
        }

        if (!RangeHeaderValue.TryParse(header, out var range) || !string.Equals(range.Unit, "bytes", StringComparison.OrdinalIgnoreCase) || range.Ranges.Count == 0)
        {
            return false; // not a byte range we understand: serve the whole blob, as RFC 9110 allows
        }

        var satisfiable = range.Ranges.Any(r => r.From is { } from ? from < length : r.To is > 0 && length > 0);
        if (!satisfiable)
        {
            var error = new OciException(OciErrorCode.RangeInvalid, "requested range not satisfiable");
            error.Headers["Content-Range"] = $"bytes */{length}";
            throw error;
        }

        return true;
    }
}
