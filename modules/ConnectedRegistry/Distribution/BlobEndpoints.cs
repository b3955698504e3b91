using System.Net.Http.Headers;
using ConnectedRegistry.Oci;
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
            if (byteRange)
            {
                // A resumed or partial read: ASP.NET's range processing (206, Content-Range, multiple ranges).
                await Results.File(file.FullName, "application/octet-stream", enableRangeProcessing: true).ExecuteAsync(context);
            }
            else
            {
                await SendWholeFileAsync(context, file.FullName, file.Length);
            }
        }
        catch (FileNotFoundException) when (!response.HasStarted)
        {
            throw new OciException(OciErrorCode.BlobUnknown, detail: new { digest = digest.ToString() });
        }
    }

    private const int ReadChunk = 1024 * 1024;

    /// <summary>
    /// The whole blob, read from the file straight into the response pipe's own buffers in large chunks: no
    /// intermediate copy buffer, few system calls. Memory stays bounded by the pipe's flush back-pressure.
    /// </summary>
    private static async Task SendWholeFileAsync(HttpContext context, string path, long length)
    {
        var response = context.Response;
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, FileOptions.SequentialScan);
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/octet-stream";
        response.ContentLength = length;
        var writer = response.BodyWriter;
        var cancel = context.RequestAborted;
        long offset = 0;
        while (offset < length)
        {
            var memory = writer.GetMemory(ReadChunk);
            var want = (int)Math.Min(memory.Length, length - offset);
            var read = await RandomAccess.ReadAsync(handle, memory[..want], offset, cancel);
            if (read == 0)
            {
                throw new IOException("a blob file is shorter than its recorded length");
            }

            writer.Advance(read);
            offset += read;
            var flushed = await writer.FlushAsync(cancel);
            if (flushed.IsCanceled || flushed.IsCompleted)
            {
                return;
            }
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
