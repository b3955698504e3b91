using System.Net.Http.Headers;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Distribution;

/// <summary><c>GET</c>/<c>HEAD</c>/<c>DELETE /v2/&lt;name&gt;/blobs/&lt;digest&gt;</c>. Bodies are sent from the file (sendfile), with range support.</summary>
internal static class BlobEndpoints
{
    public static async Task GetAsync(HttpContext context, OciRoute route)
    {
        var repository = DistributionEndpoints.RepositoryOf(route);
        var digest = DistributionEndpoints.ParseDigest(route.Reference);
        var store = context.RequestServices.GetRequiredService<RegistryStore>();
        var file = new FileInfo(store.BlobFilePath(digest));
        if (!file.Exists || !store.IsBlobInRepository(repository, digest))
        {
            await GetOnDemandAsync(context, repository, digest);
            return;
        }

        var response = context.Response;
        var byteRange = context.Request.Method != HttpMethods.Head && CheckRange(context, file.Length);
        if (StartResponse(context, digest, file.Length))
        {
            return;
        }

        try
        {
            if (byteRange)
            {
                response.ContentLength = null; // the range's own length
                // A resumed or partial read: ASP.NET's range processing (206, Content-Range, multiple ranges).
                await Results.File(file.FullName, "application/octet-stream", enableRangeProcessing: true).ExecuteAsync(context);
            }
            else
            {
                using var handle = File.OpenHandle(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, FileOptions.SequentialScan);
                await SendAsync(context, handle, file.Length, fetch: null);
            }
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException && !response.HasStarted)
        {
            // Deleted between the check and the open (an eviction, garbage collection): nothing was sent, so this is a
            // miss like any other, fetched on demand again when the parent has it, else a 404 before any byte. A file
            // opened before the deletion is read whole: Linux frees an unlinked file only when its last reader closes it.
            await GetOnDemandAsync(context, repository, digest);
        }
    }

    private static OciException Unknown(Digest digest) => new(OciErrorCode.BlobUnknown, detail: new { digest = digest.ToString() });

    /// <summary>The headers of a whole blob's 200; true when the request is a HEAD (then the answer is complete).</summary>
    private static bool StartResponse(HttpContext context, Digest digest, long length)
    {
        var response = context.Response;
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        response.Headers.ETag = $"\"{digest}\"";
        response.Headers.CacheControl = "max-age=31536000";
        response.Headers.AcceptRanges = "bytes";
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/octet-stream";
        response.ContentLength = length;
        return context.Request.Method == HttpMethods.Head;
    }

    /// <summary>
    /// A miss: on-demand fetch from the parent (<see cref="IOnDemandSource"/>; 404 when it cannot). Every reader, the
    /// first or one joining mid-way, reads the fetch's partial file from byte 0 and follows the download as it
    /// announces bytes written and hashed (<see cref="BlobArrival"/>: woken per chunk, never polling), straight from
    /// the page cache into the response. The last bytes go out only once the download's digest matched (before it is
    /// flushed and stored); a download that fails or does not match aborts the response (or is a 404 when nothing
    /// was sent yet). A <c>Range</c> is not honoured here: the whole blob is sent.
    /// </summary>
    private static async Task GetOnDemandAsync(HttpContext context, string repository, Digest digest)
    {
        var source = context.RequestServices.GetService<IOnDemandSource>();
        var blob = source is null ? null : await source.FetchBlobAsync(repository, digest, context.RequestAborted);
        if (blob is null)
        {
            throw Unknown(digest);
        }

        if (HttpMethods.IsHead(context.Request.Method))
        {
            // A HEAD answers for what is here: a pushing client skips the upload of a blob it got a 200 for and then
            // names it in its manifest, so the fetch must have stored it first. (A pull's GET streams as bytes arrive.)
            await EndedAsync(blob.Completion).WaitAsync(context.RequestAborted);
            if (!blob.Completion.IsCompletedSuccessfully)
            {
                throw Unknown(digest);
            }
        }

        if (StartResponse(context, digest, blob.Size))
        {
            return;
        }

        var partials = context.RequestServices.GetRequiredService<PartialBlobStore>();
        using var handle = await OpenFetchedAsync(partials, digest, blob, context.RequestAborted);
        if (handle is null)
        {
            await EndedAsync(blob.Completion);
            throw Unknown(digest);
        }

        await SendAsync(context, handle, blob.Size, blob.Completion.IsCompletedSuccessfully ? null : blob);
    }

    /// <summary>
    /// The file of a blob being fetched, once it has bytes (storage opens the partial file, or the blob once the fetch
    /// stored it: <see cref="PartialBlobStore.OpenFetched"/>); null when the fetch failed, or the blob is gone again.
    /// </summary>
    private static async Task<Microsoft.Win32.SafeHandles.SafeFileHandle?> OpenFetchedAsync(PartialBlobStore partials, Digest digest, OnDemandBlob blob, CancellationToken cancellationToken)
    {
        var arrival = blob.Arrival;
        while (true)
        {
            var done = blob.Completion.IsCompleted;
            if ((done && !blob.Completion.IsCompletedSuccessfully) || arrival.Verified.IsFaulted)
            {
                return null;
            }

            if (!done && arrival.Length == 0 && blob.Size > 0)
            {
                await Task.WhenAny(blob.Completion, arrival.WaitBeyondAsync(0, cancellationToken));
                cancellationToken.ThrowIfCancellationRequested();
                continue;
            }

            var handle = partials.OpenFetched(digest);
            if (handle is not null || done)
            {
                return handle; // null once done: stored and deleted again since (evicted), a 404 before any byte
            }

            // dropped (the fetch failed, or starts over): wait for its end or its verdict
            await Task.WhenAny(blob.Completion, arrival.Verified).WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Bytes read per call into the response pipe. Larger than the pipe's own 4 KiB blocks, so each chunk is an array
    /// rented from the shared pool and kept there after the request: at 1 MiB, 8 parallel pulls left about 15 MiB of
    /// such arrays resident; 256 KiB keeps the system calls few and the pool small.
    /// </summary>
    private const int ReadChunk = 256 * 1024;

    /// <summary>Completes when <paramref name="task"/> ends, whichever way.</summary>
    private static Task EndedAsync(Task task) =>
        task.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>
    /// The whole blob, read from the file straight into the response pipe's own buffers in chunks of <see cref="ReadChunk"/>: no
    /// intermediate copy buffer, few system calls. Memory stays bounded by the pipe's flush back-pressure. With
    /// <paramref name="growing"/> (a download still writing the file) only the bytes it announced are read, a read
    /// at the end waits for its signal, and the last bytes wait for its verdict; a failed download aborts the response.
    /// </summary>
    private static async Task SendAsync(HttpContext context, Microsoft.Win32.SafeHandles.SafeFileHandle handle, long length, OnDemandBlob? fetch)
    {
        var growing = fetch?.Arrival;
        var response = context.Response;
        var writer = response.BodyWriter;
        var cancel = context.RequestAborted;
        long offset = 0;
        while (offset < length)
        {
            if (growing is { Verified.IsFaulted: true })
            {
                await EndedAsync(fetch!.Completion); // the fetch is forgotten first, so a retry by the client starts a new one
                if (!response.HasStarted)
                {
                    throw new OciException(OciErrorCode.BlobUnknown, "the blob could not be fetched from the parent");
                }

                context.Abort(); // the bytes sent did not verify: the client must not take them as the blob
                return;
            }

            var available = growing is null ? length : Math.Min(length, growing.Length);
            if (available <= offset)
            {
                await growing!.WaitBeyondAsync(offset, cancel);
                continue;
            }

            var memory = writer.GetMemory(ReadChunk);
            var want = (int)Math.Min(memory.Length, available - offset);
            var read = await RandomAccess.ReadAsync(handle, memory[..want], offset, cancel);
            if (read == 0)
            {
                throw new IOException("a blob file is shorter than its recorded length");
            }

            writer.Advance(read);
            offset += read;
            if (offset == length && growing is not null)
            {
                // the last bytes go out only once the whole blob verified: a client never gets a complete wrong blob
                await EndedAsync(growing.Verified).WaitAsync(cancel);
                if (!growing.Verified.IsCompletedSuccessfully)
                {
                    await EndedAsync(fetch!.Completion);
                    context.Abort();
                    return;
                }
            }

            var flushed = await writer.FlushAsync(cancel);
            if (flushed.IsCanceled || flushed.IsCompleted)
            {
                return;
            }
        }
    }

    public static async Task DeleteAsync(HttpContext context, OciRoute route)
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
