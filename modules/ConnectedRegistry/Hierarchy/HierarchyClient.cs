using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ConnectedRegistry.Sync;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Hierarchy;

/// <summary>
/// Child side of <c>/connected-registry/v1/</c>: activation, deactivation and the change feed at the parent. The sync
/// token goes as Basic credentials to the parent's own endpoint only (never to another host); TLS as for sync (system
/// trust plus <c>PARENT_CA_FILE</c>). A parent that is a plain OCI registry answers 404 (or 405): <see cref="HierarchyResponse.NotOffered"/>.
/// </summary>
public sealed class HierarchyClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly Uri _base;

    public HierarchyClient(Uri parent, ParentCredentials? credentials, ParentClientOptions options)
    {
        _base = new Uri(parent.GetLeftPart(UriPartial.Path).TrimEnd('/') + HierarchyEndpoints.Prefix + "/");
        _http = new HttpClient(ParentRegistryClient.CreateTransport(options)) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd(options.UserAgent);
        if (credentials is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", credentials.BasicParameter);
        }
    }

    public Task<HierarchyResponse> ActivateAsync(JObject claim, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, "activate", claim, cancellationToken);

    public Task<HierarchyResponse> DeactivateAsync(JObject claim, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, "deactivate", claim, cancellationToken);

    public Task<HierarchyResponse> ChangesAsync(long since, int waitSeconds, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, string.Create(CultureInfo.InvariantCulture, $"changes?since={since}&wait={waitSeconds}"), null, cancellationToken);

    private async Task<HierarchyResponse> SendAsync(HttpMethod method, string relative, JObject? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(_base, relative));
        if (body is not null)
        {
            request.Content = new StringContent(body.ToString(Formatting.None), Encoding.UTF8, "application/json");
        }

        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        JObject? json = null;
        try
        {
            json = text.Length is > 0 and < 4 * 1024 * 1024 ? JObject.Parse(text) : null;
        }
        catch (JsonException)
        {
        }

        var error = json?["errors"]?.First;
        var ours = response.Headers.WwwAuthenticate.ToString().Contains(ChildAuthentication.Challenge, StringComparison.OrdinalIgnoreCase);
        return new HierarchyResponse(response.StatusCode, (string?)error?["code"], (string?)error?["message"], json, ours);
    }

    public void Dispose() => _http.Dispose();
}

/// <param name="OurChallenge">A 401 carried this module's own challenge (so the parent offers the API and refused the sync token).</param>
public sealed record HierarchyResponse(HttpStatusCode Status, string? Code, string? Message, JObject? Body, bool OurChallenge = false)
{
    public bool Ok => (int)Status is >= 200 and < 300;

    /// <summary>
    /// The parent does not offer the hierarchy API: a plain OCI registry (404 or 405 for the unknown route, a 401 with
    /// another registry's challenge, a 403 without an error envelope).
    /// </summary>
    public bool NotOffered => Status switch
    {
        HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed => true,
        HttpStatusCode.Unauthorized => !OurChallenge,
        HttpStatusCode.Forbidden => Code is null,
        _ => false,
    };

    public string Describe() => $"{(int)Status} {Code ?? Status.ToString()}{(Message is null ? string.Empty : ": " + Message)}";
}
