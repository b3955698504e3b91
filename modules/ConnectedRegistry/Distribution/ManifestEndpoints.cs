using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Microsoft.Net.Http.Headers;

namespace ConnectedRegistry.Distribution;

/// <summary><c>GET</c>/<c>HEAD</c>/<c>PUT</c>/<c>DELETE /v2/&lt;name&gt;/manifests/&lt;reference&gt;</c> (tag or digest).</summary>
internal static class ManifestEndpoints
{
    public static async Task GetAsync(HttpContext context, OciRoute route)
    {
        var repository = DistributionEndpoints.RepositoryOf(route);
        var reference = ParseReference(route.Reference, forPut: false);
        var store = context.RequestServices.GetRequiredService<RegistryStore>();
        var (content, mediaType, digest) = store.GetManifest(repository, reference) is { } manifest
            ? (manifest.Content, manifest.MediaType, manifest.Digest)
            : await FetchOnDemandAsync(context, store, repository, reference);

        if (!Acceptable(context.Request, mediaType))
        {
            throw new OciException(OciErrorCode.ManifestUnknown, $"the manifest is a {mediaType}, which the Accept header does not allow");
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = mediaType;
        response.ContentLength = content.LongLength;
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        response.Headers.ETag = $"\"{digest}\"";
        if (context.Request.Method != HttpMethods.Head)
        {
            await response.Body.WriteAsync(content, context.RequestAborted);

            // A pull is a GET that was answered: clients HEAD before they GET (and to check a tag), which pulls nothing.
            context.RequestServices.GetRequiredService<PullRecorder>().Record(repository, digest);
        }
    }

    /// <summary>A miss: the manifest from the parent by on-demand fetch (<see cref="IOnDemandSource"/>), else the normal 404.</summary>
    private static async Task<(byte[] Content, string MediaType, Digest Digest)> FetchOnDemandAsync(HttpContext context, RegistryStore store, string repository, Reference reference)
    {
        var source = context.RequestServices.GetService<IOnDemandSource>();
        var fetched = source is null ? null : await source.FetchManifestAsync(repository, reference, context.RequestAborted);
        return fetched is null ? throw Unknown(store, repository, reference) : (fetched.Content, fetched.MediaType, fetched.Digest);
    }

    public static async Task PutAsync(HttpContext context, OciRoute route)
    {
        var repository = DistributionEndpoints.RepositoryOf(route);
        var reference = ParseReference(route.Reference, forPut: true);
        if (context.Request.ContentLength > RegistryStore.MaxManifestBytes)
        {
            throw new OciException(OciErrorCode.PayloadTooLarge, $"manifest exceeds {RegistryStore.MaxManifestBytes} bytes");
        }

        var content = await ReadLimitedAsync(context.Request.Body, RegistryStore.MaxManifestBytes, context.RequestAborted);
        var mediaType = MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var parsedType) ? parsedType.MediaType.Value : null;
        var store = context.RequestServices.GetRequiredService<RegistryStore>();
        var result = await store.PutManifestAsync(repository, content, mediaType, reference.Tag, reference.Digest, requireLinkedBlobs: true, context.RequestAborted);

        var response = context.Response;
        response.StatusCode = StatusCodes.Status201Created;
        response.Headers.Location = $"/v2/{repository}/manifests/{result.Digest}";
        response.Headers["Docker-Content-Digest"] = result.Digest.ToString();
        if (result.Manifest.Subject is { } subject)
        {
            response.Headers["OCI-Subject"] = subject.Digest.ToString();
        }

        response.ContentLength = 0;
        context.RequestServices.GetRequiredService<RegistryEventPublisher>().ManifestPushed(repository, result.Digest, result.Manifest.MediaType, reference.Tag);
    }

    public static async Task DeleteAsync(HttpContext context, OciRoute route)
    {
        var repository = DistributionEndpoints.RepositoryOf(route);
        var reference = ParseReference(route.Reference, forPut: false);
        var store = context.RequestServices.GetRequiredService<RegistryStore>();
        var events = context.RequestServices.GetRequiredService<RegistryEventPublisher>();
        if (reference.Digest is { } digest)
        {
            if (!await store.DeleteManifestAsync(repository, digest, context.RequestAborted))
            {
                throw Unknown(store, repository, reference);
            }

            events.ManifestDeleted(repository, digest);
        }
        else
        {
            if (!await store.DeleteTagAsync(repository, reference.Tag!, context.RequestAborted))
            {
                throw Unknown(store, repository, reference);
            }

            events.TagDeleted(repository, reference.Tag!);
        }

        context.Response.StatusCode = StatusCodes.Status202Accepted;
        context.Response.ContentLength = 0;
    }

    private static Reference ParseReference(string text, bool forPut)
    {
        if (Reference.TryParse(text, out var reference))
        {
            return reference;
        }

        if (Digest.LooksLikeDigest(text))
        {
            throw new OciException(OciErrorCode.DigestInvalid, "invalid digest");
        }

        throw forPut
            ? new OciException(OciErrorCode.ManifestInvalid, "invalid tag")
            : new OciException(OciErrorCode.ManifestUnknown, "invalid tag");
    }

    private static OciException Unknown(RegistryStore store, string repository, Reference reference) =>
        store.RepositoryExists(repository)
            ? new OciException(OciErrorCode.ManifestUnknown, detail: new { reference = reference.ToString() })
            : new OciException(OciErrorCode.NameUnknown, detail: new { name = repository });

    /// <summary>
    /// Content negotiation: an OCI manifest or index is only returned to a client that accepts it (or sends no
    /// Accept, or a wildcard); Docker types are always returned, as distribution does for old clients.
    /// </summary>
    private static bool Acceptable(HttpRequest request, string mediaType)
    {
        if (mediaType is not (MediaTypes.OciManifest or MediaTypes.OciIndex))
        {
            return true;
        }

        var accept = request.Headers.Accept;
        if (accept.Count == 0)
        {
            return true;
        }

        if (!MediaTypeHeaderValue.TryParseList(accept, out var values) || values.Count == 0)
        {
            return true;
        }

        return values.Any(v => v.MediaType.Equals(mediaType, StringComparison.OrdinalIgnoreCase)
            || v.MatchesAllTypes
            || v.MediaType.Equals("application/*", StringComparison.OrdinalIgnoreCase)
            || v.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase));
    }

    private static async Task<byte[]> ReadLimitedAsync(Stream body, int limit, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw new OciException(OciErrorCode.PayloadTooLarge, $"manifest exceeds {limit} bytes");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
