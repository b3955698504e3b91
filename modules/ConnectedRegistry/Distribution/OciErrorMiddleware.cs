using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using Microsoft.AspNetCore.Http;

namespace ConnectedRegistry.Distribution;

/// <summary>
/// Turns every failure into the OCI error envelope: <see cref="OciException"/> with its code, storage's refusals as
/// <see cref="StorageErrors"/> translates them, a path no endpoint serves as
/// <c>NAME_UNKNOWN</c> (404),
/// Kestrel's own request errors (bad framing, body too large) as client errors, a client that went
/// away as nothing, and anything else as a 500 whose message says nothing about internals.
/// </summary>
public sealed partial class OciErrorMiddleware(RequestDelegate next, ILogger<OciErrorMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
            await AnswerUnmatchedAsync(context);
        }
        catch (OciException ex)
        {
            await OciErrorWriter.WriteAsync(context, ex);
        }
        catch (Storage.StorageException ex)
        {
            await OciErrorWriter.WriteAsync(context, StorageErrors.ToOci(ex));
        }
        catch (Storage.InsufficientSpaceException ex) when (!context.Response.HasStarted)
        {
            // The free-space guard refused the write (at its start or at a chunk); the write path removed what it wrote.
            await OciErrorWriter.WriteAsync(context, ex.Refusal());
        }
        catch (Exception ex) when (Storage.FreeSpaceGuard.IsOutOfSpace(ex) && !context.Response.HasStarted)
        {
            // The volume filled up mid-write (the write path removed what it staged): the client's retry may succeed once space is freed.
            Log.OutOfSpace(logger, LogText.Escape(context.Request.Method), LogText.Escape(context.Request.Path.Value));
            context.RequestServices.GetService<Storage.FreeSpaceGuard>()?.Check();
            await OciErrorWriter.WriteAsync(context, OciErrorCode.InsufficientStorage, "the registry's storage is full: the write was not stored");
        }
        catch (BadHttpRequestException ex)
        {
            var code = ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? OciErrorCode.SizeInvalid.WithStatus(System.Net.HttpStatusCode.RequestEntityTooLarge)
                : OciErrorCode.BlobUploadInvalid.WithStatus((System.Net.HttpStatusCode)ex.StatusCode);
            await OciErrorWriter.WriteAsync(context, code, "bad request");
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
        }
        catch (IOException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Log.Unhandled(logger, ex, LogText.Escape(context.Request.Method), LogText.Escape(context.Request.Path.Value));
            await OciErrorWriter.WriteAsync(context, new OciErrorCode("UNKNOWN", System.Net.HttpStatusCode.InternalServerError, "internal error"));
        }
    }

    /// <summary>The envelope for what routing answered bare: no endpoint for the path, or the wrong method.</summary>
    private static async Task AnswerUnmatchedAsync(HttpContext context)
    {
        // No endpoint matched the path at all (for example one whose dot segments Kestrel resolved out of
        // /v2/): still the envelope.
        if (context.Response.StatusCode == StatusCodes.Status404NotFound && !context.Response.HasStarted && context.GetEndpoint() is null)
        {
            await OciErrorWriter.WriteAsync(context, OciErrorCode.NameUnknown, "no such API resource");
        }

        // A path outside /v2 that matched with the wrong method (/acr/oauth2/token, /acr/connected-registry/v1/…, their aliases): routing
        // answers a bare 405; give it the envelope too, keeping its Allow header.
        else if (context.Response.StatusCode == StatusCodes.Status405MethodNotAllowed && !context.Response.HasStarted)
        {
            var allow = context.Response.Headers.Allow.ToString();
            var headers = string.IsNullOrEmpty(allow) ? null : new Dictionary<string, string> { ["Allow"] = allow };
            await OciErrorWriter.WriteAsync(context, OciErrorCode.Unsupported, "method not allowed on this resource", headers: headers);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "No space left on the data volume for {Method} {Path}")]
        public static partial void OutOfSpace(ILogger logger, string method, string path);

        [LoggerMessage(EventId = 100, Level = LogLevel.Error, Message = "Unhandled error for {Method} {Path}")]
        public static partial void Unhandled(ILogger logger, Exception exception, string method, string path);
    }
}
