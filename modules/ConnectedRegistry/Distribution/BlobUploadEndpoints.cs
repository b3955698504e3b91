using System.Globalization;
using System.Text.RegularExpressions;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Distribution;

/// <summary>
/// Blob uploads: <c>POST /v2/&lt;name&gt;/blobs/uploads/</c> (session, monolithic <c>?digest=</c>, mount
/// <c>?mount=&amp;from=</c>), and on <c>/v2/&lt;name&gt;/blobs/uploads/&lt;id&gt;</c>: <c>PATCH</c> (streamed or
/// <c>Content-Range</c> chunks), <c>PUT ?digest=</c>, <c>GET</c> (status) and <c>DELETE</c>.
/// </summary>
internal static partial class BlobUploadEndpoints
{
    [GeneratedRegex(@"^(?:bytes[ =])?(?<start>[0-9]+)-(?<end>[0-9]+)(?:/(?:[0-9]+|\*))?\z", RegexOptions.CultureInvariant)]
    private static partial Regex ContentRangeRegex();

    public static async Task StartAsync(HttpContext context, OciRoute route)
    {
        var repository = DistributionEndpoints.RepositoryOf(route);
        var store = context.RequestServices.GetRequiredService<RegistryStore>();
        var query = context.Request.Query;

        var mount = query["mount"].ToString();
        if (!string.IsNullOrEmpty(mount))
        {
            var from = query["from"].ToString();
            var access = context.Features.Get<IRepositoryAccessFeature>();
            if (Digest.TryParse(mount, out var digest)
                && RepositoryName.IsValid(from)
                && (access is null || access.Can(from, RegistryActions.ContentRead))
                && store.IsBlobInRepository(from, digest)
                && await store.LinkBlobAsync(repository, digest, context.RequestAborted))
            {
                Created(context, repository, digest);
                return;
            }

            // Cannot mount (no or unknown source, bad digest, no read access): fall back to a new upload session, as the spec allows.
        }

        var digestText = query["digest"].ToString();
        if (!string.IsNullOrEmpty(digestText))
        {
            var digest = DistributionEndpoints.ParseDigest(digestText);
            await store.WriteBlobAsync(repository, digest, context.Request.Body, context.RequestAborted);
            Created(context, repository, digest);
            return;
        }

        var sessions = context.RequestServices.GetRequiredService<UploadSessionStore>();
        // The caller's identity (null with authentication off, where there are none) holds the session against its own cap.
        var owner = context.Features.Get<IRepositoryAccessFeature>()?.Subject;
        var session = await sessions.CreateAsync(repository, owner, context.RequestAborted);
        var options = context.RequestServices.GetRequiredService<StorageOptions>();
        context.Response.Headers["OCI-Chunk-Min-Length"] = options.ChunkMinLength.ToString(CultureInfo.InvariantCulture);
        Accepted(context, session, StatusCodes.Status202Accepted);
    }

    public static async Task PatchAsync(HttpContext context, OciRoute route)
    {
        var session = Session(context, route);
        var (start, length) = ContentRange(context);
        var sessions = context.RequestServices.GetRequiredService<UploadSessionStore>();
        session = await sessions.AppendAsync(session, context.Request.Body, start, length, context.RequestAborted);
        Accepted(context, session, StatusCodes.Status202Accepted);
    }

    public static async Task PutAsync(HttpContext context, OciRoute route)
    {
        var session = Session(context, route);
        var digestText = context.Request.Query["digest"].ToString();
        if (string.IsNullOrEmpty(digestText))
        {
            throw new OciException(OciErrorCode.DigestInvalid, "the digest query parameter is required");
        }

        var digest = DistributionEndpoints.ParseDigest(digestText);
        var sessions = context.RequestServices.GetRequiredService<UploadSessionStore>();
        if (context.Request.ContentLength is null or > 0 || context.Request.Headers.ContentRange.Count > 0)
        {
            var (start, length) = ContentRange(context);
            session = await sessions.AppendAsync(session, context.Request.Body, start, length, context.RequestAborted);
        }

        await sessions.CompleteAsync(session, digest, context.RequestAborted);
        Created(context, session.Repository, digest);
    }

    public static Task StatusAsync(HttpContext context, OciRoute route)
    {
        var session = Session(context, route);
        Accepted(context, session, StatusCodes.Status204NoContent);
        return Task.CompletedTask;
    }

    public static async Task DeleteAsync(HttpContext context, OciRoute route)
    {
        var session = Session(context, route);
        var sessions = context.RequestServices.GetRequiredService<UploadSessionStore>();
        if (!await sessions.DeleteAsync(session, context.RequestAborted))
        {
            throw new OciException(OciErrorCode.BlobUploadUnknown);
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static UploadSession Session(HttpContext context, OciRoute route)
    {
        var repository = DistributionEndpoints.RepositoryOf(route);
        var sessions = context.RequestServices.GetRequiredService<UploadSessionStore>();
        return sessions.Get(repository, route.Reference) ?? throw new OciException(OciErrorCode.BlobUploadUnknown);
    }

    /// <summary>The chunk's start and length from <c>Content-Range</c> (and <c>Content-Length</c>), or nulls for a streamed body.</summary>
    private static (long? Start, long? Length) ContentRange(HttpContext context)
    {
        var header = context.Request.Headers.ContentRange.ToString();
        var contentLength = context.Request.ContentLength;
        if (string.IsNullOrEmpty(header))
        {
            return (null, contentLength);
        }

        var match = ContentRangeRegex().Match(header.Trim());
        if (!match.Success)
        {
            throw new OciException(OciErrorCode.RangeInvalid, "invalid Content-Range");
        }

        // Digits that do not fit in 64 bits, or a range whose length does not (0-9223372036854775807), are a size
        // no blob can have: refused as such, never computed with an overflow.
        if (!long.TryParse(match.Groups["start"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            || !long.TryParse(match.Groups["end"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var end)
            || (end >= start && end - start == long.MaxValue))
        {
            throw new OciException(OciErrorCode.SizeInvalid, "Content-Range is out of range: a chunk's offsets and length must fit in 64 bits");
        }

        if (end < start)
        {
            throw new OciException(OciErrorCode.RangeInvalid, "invalid Content-Range");
        }

        var length = end - start + 1;
        if (contentLength is { } declared && declared != length)
        {
            throw new OciException(OciErrorCode.SizeInvalid, "Content-Length does not match Content-Range");
        }

        return (start, length);
    }

    private static void Accepted(HttpContext context, UploadSession session, int status)
    {
        var response = context.Response;
        response.StatusCode = status;
        foreach (var (name, value) in SessionHeaders(session.Repository, session.Id, session.Length))
        {
            response.Headers[name] = value;
        }

        response.ContentLength = 0;
    }

    /// <summary>Where an upload session stands: its URL, the bytes it holds, its id (a 202, a 204, and a 416 for a chunk out of place).</summary>
    internal static KeyValuePair<string, string>[] SessionHeaders(string repository, string id, long length) =>
    [
        new("Location", $"/v2/{repository}/blobs/uploads/{id}"),
        new("Range", length > 0 ? $"0-{length - 1}" : "0-0"),
        new("Docker-Upload-UUID", id),
    ];

    private static void Created(HttpContext context, string repository, Digest digest)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status201Created;
        response.Headers.Location = $"/v2/{repository}/blobs/{digest}";
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        response.ContentLength = 0;
    }
}
