using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ConnectedRegistry.Sync;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Hierarchy;

/// <summary>
/// Child side of <c>/acr/connected-registry/v1/</c>: activation, deactivation and the change feed at the parent. The sync
/// token goes as Basic credentials to the parent's own endpoint only (never to another host); TLS as for sync (system
/// trust plus <c>PARENT_CA_FILE</c>). The API lives under <c>/acr</c> so that it passes an IoT Edge API proxy; a parent
/// that answers 404 there and serves the earlier <c>/connected-registry/v1/</c> (a parent not upgraded yet) is called
/// there from then on. A parent that is a plain OCI registry answers 404 (or 405) on both:
/// <see cref="HierarchyResponse.NotOffered"/>; anything that is no registry's answer (a proxy's HTML 403, say) is
/// <see cref="HierarchyResponse.Unexpected"/>.
/// </summary>
public sealed class HierarchyClient : IDisposable
{
    /// <summary>Largest answer read as JSON (activation, deactivation, errors); a longer one is not parsed, nor read further.</summary>
    public const int MaxAnswerBytes = 4 * 1024 * 1024;

    private readonly HttpClient _http;
    private readonly string _parent;
    private volatile string _prefix = HierarchyEndpoints.Prefix;
    private volatile bool _noLegacyPrefix;

    public HierarchyClient(Uri parent, ParentCredentials? credentials, ParentClientOptions options)
    {
        _parent = parent.GetLeftPart(UriPartial.Path).TrimEnd('/');
        _http = new HttpClient(ParentRegistryClient.CreateTransport(options)) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd(options.UserAgent);
        if (credentials is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", credentials.BasicParameter);
        }
    }

    public Task<HierarchyResponse> ActivateAsync(JObject claim, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, "activate", claim, null, cancellationToken);

    public Task<HierarchyResponse> DeactivateAsync(JObject claim, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, "deactivate", claim, null, cancellationToken);

    /// <summary>
    /// One poll of the change feed; a success's body is read as it arrives into <see cref="HierarchyResponse.Feed"/>,
    /// never more than <paramref name="maxAnswerBytes"/> of it (<see cref="ChangeFeedReader"/>).
    /// </summary>
    /// <exception cref="ChangeFeedTooLargeException">The answer is over <paramref name="maxAnswerBytes"/>.</exception>
    public Task<HierarchyResponse> ChangesAsync(long since, int waitSeconds, long maxAnswerBytes, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, string.Create(CultureInfo.InvariantCulture, $"changes?since={since}&wait={waitSeconds}"), null, maxAnswerBytes, cancellationToken);

    private async Task<HierarchyResponse> SendAsync(HttpMethod method, string relative, JObject? body, long? feedLimit, CancellationToken cancellationToken)
    {
        var prefix = _prefix;
        var response = await SendOnceAsync(prefix, method, relative, body, feedLimit, cancellationToken);
        if (response.Status == HttpStatusCode.NotFound && prefix == HierarchyEndpoints.Prefix && !_noLegacyPrefix)
        {
            // A parent of this kind from before the API moved under /acr: it answers at the earlier prefix.
            var legacy = await SendOnceAsync(HierarchyEndpoints.LegacyPrefix, method, relative, body, feedLimit, cancellationToken);
            if (legacy.Status != HttpStatusCode.NotFound && (legacy.Ok || legacy.Code is not null || legacy.OurChallenge))
            {
                _prefix = HierarchyEndpoints.LegacyPrefix;
                return legacy;
            }

            // A plain OCI registry serves neither: asked at the earlier prefix once, not at every pass (a round trip
            // each, 0.6 s on a satellite link, before anything was synced).
            _noLegacyPrefix = true;
        }

        return response;
    }

    private async Task<HierarchyResponse> SendOnceAsync(string prefix, HttpMethod method, string relative, JObject? body, long? feedLimit, CancellationToken cancellationToken)
    {
        var uri = new Uri(_parent + prefix + "/" + relative);
        using var request = new HttpRequestMessage(method, uri);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToString(Formatting.None), Encoding.UTF8, "application/json");
        }

        // Headers first, then the body read with a bound: an answer of any size costs this process no more than the bound.
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        JObject? json = null;
        ChangeFeedPage? feed = null;
        if (feedLimit is { } limit && response.IsSuccessStatusCode)
        {
            feed = await ChangeFeedReader.ReadAsync(response.Content, limit, cancellationToken);
        }
        else
        {
            json = await ReadJsonAsync(response.Content, cancellationToken);
        }

        var error = json?["errors"]?.First;
        var ours = response.Headers.WwwAuthenticate.ToString().Contains(ChildAuthentication.Challenge, StringComparison.OrdinalIgnoreCase);
        return new HierarchyResponse(response.StatusCode, (string?)error?["code"], (string?)error?["message"], json, ours)
        {
            Method = method.Method,
            Uri = new Uri(uri.GetLeftPart(UriPartial.Path)),
            ContentType = response.Content.Headers.ContentType?.MediaType,
            Feed = feed,
        };
    }

    /// <summary>The body as a JSON object; null when it is empty, not one, or longer than <see cref="MaxAnswerBytes"/> (then not read further).</summary>
    private static async Task<JObject?> ReadJsonAsync(HttpContent content, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > MaxAnswerBytes)
        {
            return null;
        }

        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[Math.Min(MaxAnswerBytes, content.Headers.ContentLength ?? 64 * 1024) + 1];
        var length = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
        {
            length += read;
            if (length > MaxAnswerBytes)
            {
                return null;
            }

            if (length == buffer.Length)
            {
                Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, MaxAnswerBytes + 1L));
            }
        }

        try
        {
            return length > 0 ? JObject.Parse(Encoding.UTF8.GetString(buffer, 0, length)) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <param name="OurChallenge">A 401 carried this module's own challenge (so the parent offers the API and refused the sync token).</param>
public sealed record HierarchyResponse(HttpStatusCode Status, string? Code, string? Message, JObject? Body, bool OurChallenge = false)
{
    /// <summary>The request's method and address (without query), to name it in messages.</summary>
    public string? Method { get; init; }

    public Uri? Uri { get; init; }

    /// <summary>The media type of the answer's body, if any.</summary>
    public string? ContentType { get; init; }

    /// <summary>A change-feed answer read as it arrived (<see cref="ChangeFeedReader"/>), in place of <see cref="Body"/>.</summary>
    public ChangeFeedPage? Feed { get; init; }

    /// <summary>A success with a JSON object body (or a feed page): a 2xx that is an HTML page (a captive portal, a proxy) is not one.</summary>
    public bool Ok => (int)Status is >= 200 and < 300 && (Body is not null || Feed is not null);

    /// <summary>
    /// The parent does not offer the hierarchy API: a plain OCI registry (404 or 405 for the unknown route, or a 401
    /// with another registry's challenge).
    /// </summary>
    public bool NotOffered => Status switch
    {
        HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed => true,
        HttpStatusCode.Unauthorized => !OurChallenge,
        _ => false,
    };

    /// <summary>
    /// Neither this API's answer nor a plain registry's "no such route", nor a server error to retry: something that
    /// is no registry answered (a proxy's HTML 403, a redirect, a page with 200). The child activates locally, and says
    /// what answered.
    /// </summary>
    public bool Unexpected => !Ok && !NotOffered && (int)Status < 500 && Code is null;

    public string Describe() => $"{(int)Status} {Code ?? Status.ToString()}{(Message is null ? string.Empty : ": " + Message)}";

    /// <summary>For an <see cref="Unexpected"/> answer: the request, the status and what the body was.</summary>
    public string DescribeUnexpected() =>
        $"{Method} {Uri} answered {(int)Status} {Status}{(ContentType is null ? " without a body" : $" with {(ContentType == "text/html" ? "an HTML page" : ContentType)}")}";
}
