using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Sync;

/// <summary>
/// An OCI Distribution client for the parent registry (a cloud registry, CNCF distribution, or another
/// instance of this module). Authentication is <see cref="ParentAuthHandler"/>, resilience is
/// <see cref="ParentResilienceHandler"/>; this class only speaks the API. Manifests come back as their exact
/// bytes, verified against their digest; blobs come back as streams (the caller verifies while storing).
/// </summary>
public sealed partial class ParentRegistryClient : IParentRegistry, IDisposable
{
    private const string AcceptManifests = MediaTypes.OciIndex + ", " + MediaTypes.OciManifest + ", " + MediaTypes.DockerManifestList + ", " + MediaTypes.DockerManifest;
    private readonly HttpClient _http;
    private readonly ParentClientOptions _options;
    private readonly ILogger _logger;

    public ParentRegistryClient(Uri endpoint, ParentCredentials? credentials, ParentClientOptions options, TimeProvider time, ILogger logger, HttpMessageHandler? transport = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint.Scheme != Uri.UriSchemeHttps && endpoint.Scheme != Uri.UriSchemeHttp)
        {
            throw new ArgumentException("the parent endpoint must be http:// or https://", nameof(endpoint));
        }

        Endpoint = new Uri(endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/");
        _options = options;
        _logger = logger;
        BodyIdleTimeout = options.BodyIdleTimeout;
        var bodies = new ParentBodyIdleHandler(() => BodyIdleTimeout, transport ?? CreateTransport(options));
        var resilience = new ParentResilienceHandler(options, time, logger, bodies);
        Auth = new ParentAuthHandler(Endpoint, credentials, time, logger, resilience, options.TrustedRealmHosts);
        _http = new HttpClient(Auth) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd(options.UserAgent);
    }

    /// <summary>The parent's base address (always ends with <c>/</c>).</summary>
    public Uri Endpoint { get; }

    /// <summary>The options this client was made with (TLS trust included), for other calls to the same parent.</summary>
    public ParentClientOptions Options => _options;

    internal ParentAuthHandler Auth { get; }

    /// <summary>
    /// The idle limit on the parent's bodies (<see cref="ParentBodyIdleHandler"/>): from the options, then the twin's
    /// <c>sync.parentIdleTimeout</c> as set by <see cref="ParentClientSlot"/>; read when a body is opened.
    /// </summary>
    public TimeSpan BodyIdleTimeout
    {
        get => new(Interlocked.Read(ref _bodyIdleTicks));
        set => Interlocked.Exchange(ref _bodyIdleTicks, value > TimeSpan.Zero ? value.Ticks : ParentClientOptions.DefaultBodyIdleTimeout.Ticks);
    }

    private long _bodyIdleTicks;

    /// <summary>
    /// The network transport: system trust store, plus the certificates of <see cref="ParentClientOptions.CaFile"/>
    /// and <see cref="ParentClientOptions.ExtraTrust"/> when set. Redirects (blob storage) are followed; .NET drops the Authorization header on a redirect and
    /// never follows https → http.
    /// </summary>
    public static SocketsHttpHandler CreateTransport(ParentClientOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = options.ConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AllowAutoRedirect = true,
            AutomaticDecompression = DecompressionMethods.None,

            // Only a resumed upload's first chunk asks for 100 Continue; the parent may first finish a broken request's append.
            Expect100ContinueTimeout = TimeSpan.FromSeconds(5),
        };
        // Below TLS and HTTP: a dead path is found (keepalive, unacknowledged bytes), and under a cap every byte of every
        // connection to the parent passes the one shared bucket.
        handler.ConnectCallback = (context, cancellationToken) => ConnectAsync(options, context, cancellationToken);

        var extra = new X509Certificate2Collection();
        if (!string.IsNullOrWhiteSpace(options.CaFile))
        {
            extra.ImportFromPemFile(options.CaFile);
        }

        if (options.ExtraTrust is { Count: > 0 } roots)
        {
            extra.AddRange(roots);
        }

        if (extra.Count > 0)
        {
            // The machine's trust store still counts; the extra roots are tried when it alone does not trust the parent.
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                errors == SslPolicyErrors.None || CustomRootTrust.Validate(certificate, chain, errors, extra);
        }

        return handler;
    }

    /// <summary>
    /// A connection to the parent: TCP keepalive and a limit on unacknowledged bytes (<see cref="ParentClientOptions.KeepAliveIdle"/>,
    /// <see cref="ParentClientOptions.UnacknowledgedTimeout"/>), and under a cap every byte through its bucket.
    /// </summary>
    private static async ValueTask<Stream> ConnectAsync(ParentClientOptions options, SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
        try
        {
            DetectDeadPath(socket, options);
            var throttle = options.Throttle;
            if (throttle?.ConnectReceiveBufferBytes is { } connectBuffer)
            {
                // Capped: the receive buffer fixed before connect (the kernel's tuning would grow it past what the
                // cap paces) and large enough that the window scale offered in the SYN lets it grow for a long round
                // trip; the throttled stream lowers it at once.
                socket.ReceiveBufferSize = connectBuffer;

                // Small segments from the parent: the kernel opens a receive window in steps of a segment, and
                // loopback's 64 KiB segments opened it 64 KiB at a time (no effect on a path with a smaller MTU).
                if (OperatingSystem.IsLinux())
                {
                    const int TcpMaxSegment = 2; // <netinet/tcp.h>
                    socket.SetRawSocketOption(6, TcpMaxSegment, BitConverter.GetBytes(ThrottledStream.SegmentBytes));
                }
            }

            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
            var stream = new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            if (throttle is null)
            {
                return stream;
            }

            var throttled = new ThrottledStream(stream, throttle, socket);
            await throttled.StartAsync(cancellationToken);
            return throttled;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Keepalive probes and, on Linux, <c>TCP_USER_TIMEOUT</c>, so a path that died silently fails the request.</summary>
    private static void DetectDeadPath(System.Net.Sockets.Socket socket, ParentClientOptions options)
    {
        const int IpProtoTcp = 6, TcpUserTimeout = 18; // <netinet/tcp.h>
        socket.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Tcp, System.Net.Sockets.SocketOptionName.TcpKeepAliveTime, Seconds(options.KeepAliveIdle));
        socket.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Tcp, System.Net.Sockets.SocketOptionName.TcpKeepAliveInterval, Seconds(options.KeepAliveInterval));
        socket.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Tcp, System.Net.Sockets.SocketOptionName.TcpKeepAliveRetryCount, Math.Max(1, options.KeepAliveProbes));
        if (OperatingSystem.IsLinux() && options.UnacknowledgedTimeout > TimeSpan.Zero)
        {
            socket.SetRawSocketOption(IpProtoTcp, TcpUserTimeout, BitConverter.GetBytes((int)Math.Min(int.MaxValue, options.UnacknowledgedTimeout.TotalMilliseconds)));
        }

        static int Seconds(TimeSpan span) => (int)Math.Clamp(Math.Ceiling(span.TotalSeconds), 1, 32767);
    }

    /// <summary>GET /v2/: true when the parent answers (authenticated) with 200.</summary>
    public async Task PingAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, Url("v2/")), cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
    }

    /// <summary>Every repository in the parent's catalog (all pages, following <c>Link</c>).</summary>
    public Task<IReadOnlyList<string>> CatalogAsync(CancellationToken cancellationToken) =>
        PagedAsync(Url($"v2/_catalog?n={_options.PageSize}"), "repositories", cancellationToken)!;

    /// <summary>Every tag of <paramref name="repository"/> (all pages), or null when the parent does not know it.</summary>
    public Task<IReadOnlyList<string>?> ListTagsAsync(string repository, CancellationToken cancellationToken) =>
        PagedAsync(Url($"v2/{repository}/tags/list?n={_options.PageSize}"), "tags", cancellationToken, nullOnNotFound: true);

    private async Task<IReadOnlyList<string>?> PagedAsync(Uri first, string member, CancellationToken cancellationToken, bool nullOnNotFound = false)
    {
        var items = new List<string>();
        Uri? next = first;
        var pages = 0;
        while (next is not null)
        {
            if (++pages > 100_000)
            {
                throw new ParentContentException("the parent's pagination does not end");
            }

            using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, next), cancellationToken);
            if (nullOnNotFound && response.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }

            await EnsureSuccessAsync(response, cancellationToken);
            var json = JObject.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            if (json[member] is JArray array)
            {
                items.AddRange(array.Values<string>().OfType<string>());
            }

            next = NextLink(response, next);
        }

        return items;
    }

    /// <summary>The <c>rel="next"</c> target of a <c>Link</c> header, resolved against the request.</summary>
    internal static Uri? NextLink(HttpResponseMessage response, Uri requestUri)
    {
        if (!response.Headers.TryGetValues("Link", out var links))
        {
            return null;
        }

        foreach (var link in links.SelectMany(l => l.Split(',')))
        {
            var open = link.IndexOf('<');
            var close = link.IndexOf('>');
            if (open < 0 || close <= open || !link[close..].Contains("rel=\"next\"", StringComparison.OrdinalIgnoreCase) && !link[close..].Contains("rel=next", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            return Uri.TryCreate(requestUri, link[(open + 1)..close], out var target) ? target : null;
        }

        return null;
    }

    /// <summary>
    /// GET a manifest by tag or digest: its exact bytes, media type and digest. The digest is computed over the
    /// bytes and must equal the requested digest, and <c>Docker-Content-Digest</c> when the parent sent it.
    /// Null when the parent does not have it.
    /// </summary>
    public async Task<ManifestContent?> GetManifestAsync(string repository, string reference, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, Url($"v2/{repository}/manifests/{reference}"));
        request.Headers.TryAddWithoutValidation("Accept", AcceptManifests);
        using var response = await SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, cancellationToken);
        if (response.Content.Headers.ContentLength > _options.MaxManifestBytes)
        {
            throw new ParentContentException("manifest larger than the limit");
        }

        var bytes = await ReadLimitedAsync(response.Content, _options.MaxManifestBytes, cancellationToken);
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        if (string.IsNullOrEmpty(mediaType) || !MediaTypes.IsManifest(mediaType))
        {
            mediaType = MediaTypeFromBody(bytes) ?? mediaType ?? MediaTypes.OciManifest;
        }

        Digest expected;
        var algorithm = Digest.Sha256;
        if (Digest.TryParse(reference, out var requested))
        {
            expected = requested;
            algorithm = requested.Algorithm;
        }
        else if (response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var header))
        {
            expected = header;
            algorithm = header.Algorithm;
        }
        else
        {
            expected = default;
        }

        var actual = Digest.Compute(bytes, algorithm);
        if (expected != default && expected != actual)
        {
            throw new ParentContentException($"manifest {repository}:{reference} does not match its digest");
        }

        return new ManifestContent(bytes, mediaType, actual);
    }

    /// <summary>HEAD a manifest: digest, media type and size, or null when the parent does not have it.</summary>
    public async Task<ManifestInfo?> HeadManifestAsync(string repository, string reference, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Head, Url($"v2/{repository}/manifests/{reference}"));
        request.Headers.TryAddWithoutValidation("Accept", AcceptManifests);
        using var response = await SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, cancellationToken);
        Digest digest;
        if (response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var header))
        {
            digest = header;
        }
        else if (Digest.TryParse(reference, out var requested))
        {
            digest = requested;
        }
        else
        {
            // No digest header: only a GET can tell.
            var full = await GetManifestAsync(repository, reference, cancellationToken);
            return full is null ? null : new ManifestInfo(full.Digest, full.MediaType, full.Bytes.Length);
        }

        return new ManifestInfo(digest, response.Content.Headers.ContentType?.MediaType ?? MediaTypes.OciManifest, response.Content.Headers.ContentLength ?? -1);
    }

    /// <summary>
    /// GET a blob as a stream, from byte <paramref name="offset"/> on when the parent honours <c>Range</c>
    /// (<see cref="BlobDownload.Offset"/> says where the stream really starts). The caller verifies the digest.
    /// </summary>
    public async Task<BlobDownload> GetBlobAsync(string repository, Digest digest, long offset, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, Url($"v2/{repository}/blobs/{digest}"));
        if (offset > 0)
        {
            request.Headers.Range = new RangeHeaderValue(offset, null);
        }

        var response = await SendAsync(request, cancellationToken);
        try
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && offset > 0)
            {
                response.Dispose();
                return await GetBlobAsync(repository, digest, 0, cancellationToken);
            }

            await EnsureSuccessAsync(response, cancellationToken);
            var start = 0L;
            long? total = response.Content.Headers.ContentLength;
            if (response.StatusCode == HttpStatusCode.PartialContent)
            {
                var range = response.Content.Headers.ContentRange;
                start = range?.From ?? offset;
                total = range?.Length;
            }

            var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            return new BlobDownload(response, stream, start, total);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>HEAD a blob: its size, or null when the parent does not have it in <paramref name="repository"/>.</summary>
    public async Task<long?> HeadBlobAsync(string repository, Digest digest, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Head, Url($"v2/{repository}/blobs/{digest}")), cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, cancellationToken);
        return response.Content.Headers.ContentLength ?? 0;
    }

    /// <summary>
    /// The manifests that refer to <paramref name="subject"/> through the referrers API. When the parent has no
    /// referrers API: with <paramref name="useTagSchema"/> the referrers tag schema (<c>sha256-HEX</c>, an index)
    /// is read instead, else null is returned (then the schema's tags travel with the ordinary tags anyway).
    /// </summary>
    public async Task<IReadOnlyList<Descriptor>?> ReferrersAsync(string repository, Digest subject, CancellationToken cancellationToken, bool useTagSchema = true)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, Url($"v2/{repository}/referrers/{subject}"));
        request.Headers.TryAddWithoutValidation("Accept", MediaTypes.OciIndex);
        using (var response = await SendAsync(request, cancellationToken))
        {
            if (response.IsSuccessStatusCode && response.Content.Headers.ContentType?.MediaType is MediaTypes.OciIndex or "application/json")
            {
                var body = await ReadLimitedAsync(response.Content, _options.MaxManifestBytes, cancellationToken);
                return new ManifestContent(body, MediaTypes.OciIndex, Digest.Compute(body)).Parse().Manifests;
            }

            if (response.StatusCode is not (HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed or HttpStatusCode.BadRequest))
            {
                await EnsureSuccessAsync(response, cancellationToken);
            }
        }

        if (!useTagSchema)
        {
            return null;
        }

        var fallback = await GetManifestAsync(repository, $"{subject.Algorithm}-{subject.Hex}", cancellationToken);
        return fallback is null || !MediaTypes.IsIndex(fallback.MediaType) ? [] : fallback.Parse().Manifests;
    }

    /// <summary>Mounts a blob from another repository of the parent. True when mounted; false when the parent would rather have it uploaded.</summary>
    public async Task<bool> MountBlobAsync(string repository, Digest digest, string fromRepository, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, Url($"v2/{repository}/blobs/uploads/?mount={Uri.EscapeDataString(digest.ToString())}&from={Uri.EscapeDataString(fromRepository)}"));
        request.Content = new ByteArrayContent([]);
        using var response = await SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Created)
        {
            return true;
        }

        if (response.StatusCode == HttpStatusCode.Accepted)
        {
            // An upload session was opened instead; cancel it so it does not linger.
            if (response.Headers.Location is { } location)
            {
                using var cancel = await SendAsync(new HttpRequestMessage(HttpMethod.Delete, new Uri(response.RequestMessage!.RequestUri!, location)), cancellationToken);
            }

            return false;
        }

        await EnsureSuccessAsync(response, cancellationToken);
        return false;
    }

    /// <summary>
    /// Uploads a blob: POST to open a session, PATCH with the whole stream, PUT <c>?digest=</c> to close it,
    /// following the <c>Location</c> the parent returns at every step.
    /// </summary>
    public async Task UploadBlobAsync(string repository, Digest digest, Stream content, long size, CancellationToken cancellationToken)
    {
        var upload = await StartUploadAsync(repository, cancellationToken);
        var patch = new HttpRequestMessage(HttpMethod.Patch, upload.Location) { Content = new StreamContent(content, 81920) };
        patch.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        patch.Content.Headers.ContentLength = size;
        using (var response = await SendAsync(patch, cancellationToken))
        {
            await EnsureSuccessAsync(response, cancellationToken);
            upload = upload with { Location = LocationOf(response) };
        }

        await CompleteUploadAsync(upload, digest, cancellationToken);
    }

    /// <summary>POST a new upload session: its absolute location and the parent's <c>OCI-Chunk-Min-Length</c> (0 when absent).</summary>
    public async Task<ParentUpload> StartUploadAsync(string repository, CancellationToken cancellationToken)
    {
        var open = new HttpRequestMessage(HttpMethod.Post, Url($"v2/{repository}/blobs/uploads/")) { Content = new ByteArrayContent([]) };
        using var response = await SendAsync(open, cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
        var minimum = response.Headers.TryGetValues("OCI-Chunk-Min-Length", out var values)
            && long.TryParse(values.FirstOrDefault(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 0;
        return new ParentUpload(LocationOf(response), 0, minimum);
    }

    /// <summary>
    /// GET an upload session: the bytes it holds from its <c>Range: 0-N</c> (N is the last byte's offset, so N + 1
    /// bytes; <c>0-0</c> is read as empty, which is what CNCF distribution and this module send for a new session).
    /// Null when the parent no longer has the session (404, <c>BLOB_UPLOAD_UNKNOWN</c>, <c>BLOB_UPLOAD_INVALID</c>:
    /// distribution's answer, and its cancellation, when the session holds other bytes than its state says) or
    /// gives no usable <c>Range</c>.
    /// </summary>
    public async Task<ParentUpload?> UploadStatusAsync(ParentUpload upload, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, upload.Location), cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        try
        {
            await EnsureSuccessAsync(response, cancellationToken);
        }
        catch (ParentRegistryException ex) when (IsSessionGone(ex))
        {
            return null;
        }

        return UploadRange(response) is { } held
            ? upload with { Location = response.Headers.Location is null ? upload.Location : LocationOf(response), Offset = held }
            : null;
    }

    /// <summary>PATCH one chunk with <c>Content-Range</c> and <c>Content-Length</c>; the session after it (its new location and length).</summary>
    public async Task<ParentUpload> UploadChunkAsync(ParentUpload upload, Stream content, long length, CancellationToken cancellationToken, bool confirmFirst = false)
    {
        var patch = new HttpRequestMessage(HttpMethod.Patch, upload.Location) { Content = new StreamContent(content, 81920) };
        patch.Headers.ExpectContinue = confirmFirst;
        patch.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        patch.Content.Headers.ContentLength = length;
        patch.Content.Headers.TryAddWithoutValidation("Content-Range", string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{upload.Offset}-{upload.Offset + length - 1}"));
        using var response = await SendAsync(patch, cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
        return upload with { Location = LocationOf(response), Offset = UploadRange(response) ?? (upload.Offset + length) };
    }

    /// <summary>PUT <c>?digest=</c> with an empty body: the parent verifies the session's bytes and makes them the blob.</summary>
    public async Task CompleteUploadAsync(ParentUpload upload, Digest digest, CancellationToken cancellationToken)
    {
        var location = upload.Location.ToString();
        var separator = string.IsNullOrEmpty(upload.Location.Query) ? "?" : "&";
        var close = new HttpRequestMessage(HttpMethod.Put, new Uri(location + separator + "digest=" + Uri.EscapeDataString(digest.ToString()))) { Content = new ByteArrayContent([]) };
        using var response = await SendAsync(close, cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
    }

    /// <summary>A refusal that means the upload session is gone at the parent (expired, cancelled, never known).</summary>
    public static bool IsSessionGone(ParentRegistryException ex) =>
        ex.Status == HttpStatusCode.NotFound || ex.Code == OciErrorCode.BlobUploadUnknown.Code || ex.Code == OciErrorCode.BlobUploadInvalid.Code;

    /// <summary>How many bytes an upload session holds, from <c>Range: 0-N</c> (N + 1; <c>0-0</c>: 0); null when absent or malformed.</summary>
    internal static long? UploadRange(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Range", out var values) || values.FirstOrDefault() is not { } range)
        {
            return null;
        }

        var text = range.Trim();
        if (text.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase))
        {
            text = text[6..];
        }

        var dash = text.IndexOf('-');
        if (dash <= 0
            || !long.TryParse(text[..dash], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var first) || first != 0
            || !long.TryParse(text[(dash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var last) || last == long.MaxValue)
        {
            return null;
        }

        return last == 0 ? 0 : last + 1;
    }

    /// <summary>DELETE a manifest by digest (the parent removes the tags pointing at it). False when it was not there.</summary>
    public async Task<bool> DeleteManifestAsync(string repository, Digest digest, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Delete, Url($"v2/{repository}/manifests/{digest}")), cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        await EnsureSuccessAsync(response, cancellationToken);
        return true;
    }

    /// <summary>DELETE a tag (OCI 1.1 allows a tag reference; older registries answer 400/405 UNSUPPORTED).</summary>
    public async Task DeleteTagAsync(string repository, string tag, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Delete, Url($"v2/{repository}/manifests/{tag}")), cancellationToken);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccessAsync(response, cancellationToken);
        }
    }

    /// <summary>PUT a manifest (by tag or digest) with its exact bytes; returns the digest the parent reports, verified.</summary>
    public async Task<Digest> PutManifestAsync(string repository, string reference, byte[] bytes, string mediaType, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, Url($"v2/{repository}/manifests/{reference}")) { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        using var response = await SendAsync(request, cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
        var digest = Digest.Compute(bytes);
        if (response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var reported)
            && reported.Algorithm == digest.Algorithm && reported != digest)
        {
            throw new ParentContentException("the parent stored the manifest under another digest");
        }

        return digest;
    }

    public void Dispose() => _http.Dispose();

    private Uri Url(string relative) => new(Endpoint, relative);

    private static Uri LocationOf(HttpResponseMessage response) =>
        response.Headers.Location is { } location
            ? new Uri(response.RequestMessage!.RequestUri!, location)
            : throw new ParentContentException("the parent did not return an upload location");

    private Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);

    private static async Task<byte[]> ReadLimitedAsync(HttpContent content, int limit, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[16384];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw new ParentContentException("manifest larger than the limit");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static string? MediaTypeFromBody(byte[] bytes)
    {
        try
        {
            var json = JObject.Parse(System.Text.Encoding.UTF8.GetString(bytes));
            return (string?)json["mediaType"] ?? (json["manifests"] is JArray ? MediaTypes.OciIndex : MediaTypes.OciManifest);
        }
        catch (Newtonsoft.Json.JsonException)
        {
            return null;
        }
    }

    private async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        string? code = null;
        string? message = null;
        if (response.RequestMessage?.Method != HttpMethod.Head)
        {
            try
            {
                var body = await ReadLimitedAsync(response.Content, 64 * 1024, cancellationToken);
                var error = JObject.Parse(System.Text.Encoding.UTF8.GetString(body))["errors"]?.First;
                // The parent's words reach logs, sync.lastError in the reported properties and the CLI: escaped and
                // cut like any other untrusted text (a newline or ESC in them could forge a line).
                code = error?["code"] is JValue { Value: string c } ? LogText.Escape(c) : null;
                message = error?["message"] is JValue { Value: string m } ? LogText.Escape(m) : null;
            }
            catch (Exception ex) when (ex is Newtonsoft.Json.JsonException or ParentContentException or InvalidOperationException)
            {
            }
        }

        var what = $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.AbsolutePath}";
        Log.ParentError(_logger, what, (int)response.StatusCode, code ?? "-");
        throw new ParentRegistryException(response.StatusCode, code, $"parent answered {(int)response.StatusCode} {code} for {what}{(message is null ? string.Empty : ": " + message)}");
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4020, Level = LogLevel.Debug, Message = "Parent error for {Request}: {Status} {Code}")]
        public static partial void ParentError(ILogger logger, string request, int status, string code);
    }
}

/// <summary>A blob stream from the parent; disposing it releases the connection (the response it came with, if any).</summary>
public sealed class BlobDownload(IDisposable? response, Stream content, long offset, long? totalLength) : IAsyncDisposable
{
    public Stream Content { get; } = content;

    /// <summary>The byte of the blob the stream starts at (0 unless a Range was honoured).</summary>
    public long Offset { get; } = offset;

    /// <summary>The whole blob's length when the parent said it.</summary>
    public long? TotalLength { get; } = totalLength;

    public async ValueTask DisposeAsync()
    {
        await Content.DisposeAsync();
        response?.Dispose();
    }
}
