using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A real HTTP proxy (Kestrel on 127.0.0.1:0) in front of a parent registry. It records every request with the
/// bytes it passed on, and lets a test misbehave on the wire: corrupt a blob, or act on the stream after a number
/// of bytes (kill the parent mid-transfer). Upstream unreachable → 502, as a gateway would answer.
/// </summary>
public sealed class ForwardingProxy : IAsyncDisposable
{
    private static readonly HashSet<string> HopHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "TE", "Trailer", "Host",
    };

    private readonly Uri _upstream;
    private readonly CancellationTokenSource _stopping = new();
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = Timeout.InfiniteTimeSpan };
    private FakeHttpServer? _server;

    private ForwardingProxy(Uri upstream) => _upstream = upstream;

    public Uri Address => _server!.Address;

    public ConcurrentQueue<ProxiedRequest> Requests { get; } = new();

    /// <summary>Called while a response body is copied: (request path, bytes sent so far) → true to cut the connection now.</summary>
    public Func<string, long, bool>? CutWhen { get; set; }

    /// <summary>
    /// Called while a response body is copied: (request path, bytes sent so far) → true to go silent now, as a stalled
    /// parent does: nothing more is sent and the connection stays open until the client gives up (or the proxy stops).
    /// </summary>
    public Func<string, long, bool>? StallWhen { get; set; }

    /// <summary>
    /// Request path → a <c>Content-Length</c> to declare for a 200 answer instead of the parent's, as a lying parent does;
    /// the real bytes are sent, then the proxy goes silent (as <see cref="StallWhen"/>) while the length is not reached.
    /// </summary>
    public Func<string, long?>? DeclareLength { get; set; }

    /// <summary>Request paths whose response body gets one byte flipped, while the function says so.</summary>
    public Func<string, bool>? Corrupt { get; set; }

    /// <summary>Request path → a status to answer with (an OCI DENIED envelope) instead of forwarding; null forwards.</summary>
    public Func<string, int?>? RespondWith { get; set; }

    /// <summary>
    /// Append the client's address to <c>X-Forwarded-For</c>, as nginx's <c>$proxy_add_x_forwarded_for</c> does, so the
    /// registry behind can tell the clients of one proxy apart.
    /// </summary>
    public bool AppendForwardedFor { get; set; }

    /// <summary>Delay per 64 KiB of body, to keep a transfer running long enough to interrupt it.</summary>
    public TimeSpan Throttle { get; set; }

    /// <param name="certificate">With a certificate the proxy serves https (as the IoT Edge API proxy does).</param>
    public static async Task<ForwardingProxy> StartAsync(Uri upstream, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
    {
        var proxy = new ForwardingProxy(upstream);
        proxy._server = await FakeHttpServer.StartAsync(proxy.HandleAsync, certificate);
        return proxy;
    }

    /// <summary>Bytes of response bodies passed on for paths containing <paramref name="fragment"/>.</summary>
    public long BytesFor(string fragment) => Requests.Where(r => r.Path.Contains(fragment, StringComparison.Ordinal)).Sum(r => r.BodyBytes);

    public IReadOnlyList<ProxiedRequest> RequestsFor(string fragment, string method = "GET") =>
        [.. Requests.Where(r => r.Method == method && r.Path.Contains(fragment, StringComparison.Ordinal))];

    /// <summary>The GETs the parent answered with content (2xx): transfers, without the 401 challenges before a token.</summary>
    public IReadOnlyList<ProxiedRequest> TransfersOf(string fragment) =>
        [.. RequestsFor(fragment).Where(r => r.Status is >= 200 and < 300)];

    /// <summary>
    /// The <see cref="TransfersOf"/> that carried more than one byte: downloads, without the GETs of one byte with which
    /// a registry asks whether a repository holds a blob it has (or is fetching) for another.
    /// </summary>
    public IReadOnlyList<ProxiedRequest> DownloadsOf(string fragment) =>
        [.. TransfersOf(fragment).Where(r => r.BodyBytes > 1)];

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var record = new ProxiedRequest(request.Method, request.Path + request.QueryString, request.Headers.Range.ToString());
        Requests.Enqueue(record);
        if (RespondWith?.Invoke(record.Path) is { } status)
        {
            context.Response.StatusCode = status;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}""");
            return;
        }

        using var forward = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(_upstream, record.Path.TrimStart('/')));

        // As a reverse proxy does: the parent builds absolute Locations and Links for the proxy's address, not its own.
        forward.Headers.TryAddWithoutValidation("X-Forwarded-Host", request.Host.Value);
        forward.Headers.TryAddWithoutValidation("X-Forwarded-Proto", request.Scheme);
        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            forward.Content = new StreamContent(request.Body);
        }

        if (AppendForwardedFor)
        {
            var client = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
            var earlier = request.Headers["X-Forwarded-For"].ToString();
            forward.Headers.TryAddWithoutValidation("X-Forwarded-For", earlier.Length > 0 ? $"{earlier}, {client}" : client);
        }

        foreach (var (name, values) in request.Headers)
        {
            if (HopHeaders.Contains(name) || (AppendForwardedFor && name.Equals("X-Forwarded-For", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            if (!forward.Headers.TryAddWithoutValidation(name, (IEnumerable<string>)values) && forward.Content is not null)
            {
                forward.Content.Headers.TryAddWithoutValidation(name, (IEnumerable<string>)values);
            }
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(forward, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        }
        catch (HttpRequestException)
        {
            context.Response.StatusCode = StatusCodes.Status502BadGateway;
            return;
        }

        using (response)
        {
            context.Response.StatusCode = (int)response.StatusCode;
            record.Status = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (!HopHeaders.Contains(name))
                {
                    context.Response.Headers[name] = values.ToArray();
                }
            }

            var declared = response.StatusCode == System.Net.HttpStatusCode.OK ? DeclareLength?.Invoke(record.Path) : null;
            if (declared is not null)
            {
                context.Response.ContentLength = declared;
            }

            if (request.Method == HttpMethods.Head)
            {
                return;
            }

            var corrupt = Corrupt?.Invoke(record.Path) == true;
            await using var body = await response.Content.ReadAsStreamAsync(context.RequestAborted);
            var buffer = new byte[64 * 1024];
            int read;
            try
            {
                while ((read = await body.ReadAsync(buffer, context.RequestAborted)) > 0)
                {
                    if (corrupt)
                    {
                        buffer[0] ^= 0xFF;
                        corrupt = false;
                    }

                    await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                    record.BodyBytes += read;
                    if (CutWhen?.Invoke(record.Path, record.BodyBytes) == true)
                    {
                        context.Abort();
                        return;
                    }

                    if (StallWhen?.Invoke(record.Path, record.BodyBytes) == true)
                    {
                        await StallAsync(context);
                        return;
                    }

                    if (Throttle > TimeSpan.Zero)
                    {
                        await Task.Delay(Throttle, context.RequestAborted);
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException)
            {
                context.Abort();
                return;
            }

            if (declared > record.BodyBytes)
            {
                await StallAsync(context); // the declared rest never comes
            }
        }
    }

    /// <summary>Sends nothing more and keeps the connection open until the client gives up or the proxy stops.</summary>
    private async Task StallAsync(HttpContext context)
    {
        using var both = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
        try
        {
            await Task.Delay(Timeout.Infinite, both.Token);
        }
        catch (OperationCanceledException)
        {
        }

        context.Abort();
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync(); // stalled answers end, so the server stops at once
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _http.Dispose();
        _stopping.Dispose();
    }
}

public sealed class ProxiedRequest(string method, string path, string range)
{
    public string Method { get; } = method;

    public string Path { get; } = path;

    public string Range { get; } = range;

    public long BodyBytes { get; set; }

    /// <summary>The parent's status code (0 until it answered, or when it could not be reached).</summary>
    public int Status { get; set; }
}
