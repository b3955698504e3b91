using System.Net;
using System.Net.Http.Headers;
using ConnectedRegistry.Oci;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Answers the parent's authentication challenges. On a 401 it reads <c>WWW-Authenticate</c>: for Basic it
/// resends with the sync token; for Bearer it gets a token from the realm (GET with Basic credentials, then the
/// OAuth2 <c>grant_type=password</c> POST as a fallback), caches it per scope until <c>expires_in</c>, and resends.
/// Credentials (to a realm, or with a request a Link or Location sent elsewhere) only go to the parent's own host (over
/// https, or over http at the parent's very port), or over https to a host the twin lists in
/// <c>parent.trustedRealmHosts</c>: a realm or a link elsewhere, https or not, never gets them otherwise, since whoever
/// answers in the parent's name (a parent that is not what it seems, a proxy in between) would collect the sync token.
/// Later requests for the same scope carry the cached token up front, so a large upload is not sent twice; once the
/// parent sent a Bearer challenge, a request for a scope without a valid token gets its token from that realm first.
/// </summary>
public sealed partial class ParentAuthHandler : DelegatingHandler
{
    private readonly Uri _parent;
    private readonly HashSet<string> _trustedHosts;
    private readonly ParentCredentials? _credentials;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<string, CachedToken> _tokens = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private volatile bool _basic;
    private volatile AuthChallenge? _bearer;

    /// <param name="trustedHosts">Hosts besides the parent's that may get the credentials over https (<c>parent.trustedRealmHosts</c>).</param>
    public ParentAuthHandler(Uri parent, ParentCredentials? credentials, TimeProvider time, ILogger logger, HttpMessageHandler inner, IEnumerable<string>? trustedHosts = null)
        : base(inner)
    {
        _parent = parent;
        _trustedHosts = new HashSet<string>(trustedHosts ?? [], StringComparer.OrdinalIgnoreCase);
        _credentials = credentials;
        _time = time;
        _logger = logger;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var scope = ScopeOf(request);
        await TokenUpFrontAsync(scope, cancellationToken);
        Authorize(request, scope);
        var response = await base.SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
        {
            return response;
        }

        var challenge = AuthChallenge.From(response.Headers);
        if (challenge is null || !CanReplay(request))
        {
            return response;
        }

        if (challenge.IsBasic)
        {
            if (_credentials is null || _basic)
            {
                return response; // nothing (new) to offer
            }

            _basic = true;
        }
        else
        {
            RememberBearer(challenge);
            string? token;
            try
            {
                token = await FetchTokenAsync(challenge, scope, cancellationToken);
            }
            catch
            {
                response.Dispose(); // the challenge's connection goes back to the pool
                throw;
            }

            if (token is null)
            {
                return response;
            }
        }

        response.Dispose();
        Authorize(request, scope);
        return await base.SendAsync(request, cancellationToken);
    }

    private static bool CanReplay(HttpRequestMessage request) => request.Content is null or ByteArrayContent;

    /// <summary>
    /// When the parent's realm and service are known from an earlier challenge, the token for a new scope (or one whose
    /// token expired) is fetched before the request, not after a 401 to it: one round trip less per scope and renewal
    /// (0.6 s on a satellite link), and a body that cannot be sent twice is not refused for want of it.
    /// </summary>
    private async Task TokenUpFrontAsync(string scope, CancellationToken cancellationToken)
    {
        if (_bearer is { } known && !HasToken(scope))
        {
            await FetchTokenAsync(known, scope, cancellationToken);
        }
    }

    /// <summary>A Bearer challenge is remembered without its scope (another request's): the next scope's token is asked for up front.</summary>
    private void RememberBearer(AuthChallenge challenge)
    {
        if (challenge.IsBearer)
        {
            _bearer = challenge with { Parameters = challenge.Parameters.Where(p => !p.Key.Equals("scope", StringComparison.OrdinalIgnoreCase)).ToDictionary(StringComparer.OrdinalIgnoreCase) };
        }
    }

    /// <summary>A token for <paramref name="scope"/> that has not expired is cached.</summary>
    private bool HasToken(string scope)
    {
        lock (_gate)
        {
            return _tokens.TryGetValue(scope, out var cached) && cached.ExpiresAt > _time.GetUtcNow();
        }
    }

    private void Authorize(HttpRequestMessage request, string scope)
    {
        if (request.RequestUri is not { IsAbsoluteUri: true } target || !RealmIsSafe(target))
        {
            return; // a Link or Location on a host that may not have them: no credentials
        }

        lock (_gate)
        {
            if (_tokens.TryGetValue(scope, out var cached) && cached.ExpiresAt > _time.GetUtcNow())
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", cached.Token);
                return;
            }
        }

        if (_basic && _credentials is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", _credentials.BasicParameter);
        }
    }

    /// <summary>
    /// The scope a request needs: <c>registry:catalog:*</c> for the catalog, <c>repository:NAME:pull</c> for
    /// reads and <c>repository:NAME:pull,push</c> for writes; the empty scope for <c>/v2/</c>. The path is read by
    /// the registry's own route parser (<see cref="OciRoute"/>), so the name is the one the parent's router sees,
    /// also when it has a component named like a resource (<c>a/blobs/b</c>: the last keyword is the resource).
    /// </summary>
    internal static string ScopeOf(HttpRequestMessage request)
    {
        var path = request.RequestUri?.AbsolutePath ?? string.Empty;
        var v2 = path.IndexOf("/v2/", StringComparison.Ordinal);
        if (v2 < 0)
        {
            return string.Empty;
        }

        var route = OciRoute.Parse(Uri.UnescapeDataString(path[(v2 + 4)..]));
        if (route is { Resource: OciResource.Catalog })
        {
            return "registry:catalog:*";
        }

        if (route is null || route.Name.Length == 0)
        {
            return string.Empty;
        }

        var write = request.Method != HttpMethod.Get && request.Method != HttpMethod.Head;
        return $"repository:{route.Name}:{(write ? "pull,push" : "pull")}";
    }

    private async Task<string?> FetchTokenAsync(AuthChallenge challenge, string scope, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm) || (realm.Scheme != Uri.UriSchemeHttps && realm.Scheme != Uri.UriSchemeHttp))
        {
            Log.RealmInvalid(_logger);
            return null;
        }

        if (_credentials is not null && !RealmIsSafe(realm))
        {
            Log.RealmRefused(_logger, realm.Scheme, realm.IdnHost);
            throw new ParentRegistryException(
                HttpStatusCode.Unauthorized,
                OciErrorCode.Denied.Code,
                $"the parent's token realm is on {realm.Scheme}://{realm.IdnHost}, which is not the parent's host nor an https host listed in parent.trustedRealmHosts; credentials were not sent");
        }

        var scopes = new List<string>();
        if (!string.IsNullOrEmpty(challenge.Scope))
        {
            scopes.AddRange(challenge.Scope.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }

        if (scope.Length > 0 && !scopes.Contains(scope))
        {
            scopes.Add(scope);
        }

        var token = await GetTokenAsync(realm, challenge.Service, scopes, cancellationToken)
            ?? (_credentials is not null ? await PostTokenAsync(realm, challenge.Service, scopes, cancellationToken) : null);
        if (token is null)
        {
            Log.TokenRefused(_logger, realm.Host);
            return null;
        }

        lock (_gate)
        {
            _tokens[scope] = token;
        }

        return token.Token;
    }

    /// <summary>
    /// Whether the sync token's credentials may go to <paramref name="realm"/>: over https to the parent's host or a host
    /// of <c>parent.trustedRealmHosts</c>; over http only to the very host and port of the parent (whose scheme the
    /// operator chose).
    /// </summary>
    internal bool RealmIsSafe(Uri realm)
    {
        var parentHost = string.Equals(realm.Host, _parent.Host, StringComparison.OrdinalIgnoreCase);
        return realm.Scheme == Uri.UriSchemeHttps
            ? parentHost || _trustedHosts.Contains(realm.Host)
            : parentHost && realm.Port == _parent.Port;
    }

    private async Task<CachedToken?> GetTokenAsync(Uri realm, string? service, List<string> scopes, CancellationToken cancellationToken)
    {
        var query = new List<string>();
        if (!string.IsNullOrEmpty(service))
        {
            query.Add("service=" + Uri.EscapeDataString(service));
        }

        query.AddRange(scopes.Select(s => "scope=" + Uri.EscapeDataString(s)));
        var builder = new UriBuilder(realm);
        var existing = builder.Query.TrimStart('?');
        builder.Query = string.Join('&', (existing.Length > 0 ? new[] { existing } : []).Concat(query));
        using var request = new HttpRequestMessage(HttpMethod.Get, builder.Uri);
        if (_credentials is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", _credentials.BasicParameter);
        }

        return await SendTokenRequestAsync(request, cancellationToken);
    }

    private async Task<CachedToken?> PostTokenAsync(Uri realm, string? service, List<string> scopes, CancellationToken cancellationToken)
    {
        var form = new List<KeyValuePair<string, string>>
        {
            new("grant_type", "password"),
            new("username", _credentials!.UserName),
            new("password", _credentials.Password),
            new("client_id", "edge-connected-registry"),
        };
        if (!string.IsNullOrEmpty(service))
        {
            form.Add(new("service", service));
        }

        if (scopes.Count > 0)
        {
            form.Add(new("scope", string.Join(' ', scopes)));
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, realm) { Content = new FormUrlEncodedContent(form) };
        return await SendTokenRequestAsync(request, cancellationToken);
    }

    private async Task<CachedToken?> SendTokenRequestAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var response = await base.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }

        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        JObject json;
        try
        {
            json = JObject.Parse(body);
        }
        catch (Newtonsoft.Json.JsonException)
        {
            return null;
        }

        var token = (string?)json["token"] ?? (string?)json["access_token"];
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        // The distribution token spec: 60 s when absent. Renew a little early so a request never carries a stale token.
        var lifetime = TimeSpan.FromSeconds(Math.Max(1, (int?)json["expires_in"] ?? 60));
        var margin = TimeSpan.FromSeconds(Math.Min(30, lifetime.TotalSeconds / 10));
        return new CachedToken(token, _time.GetUtcNow() + lifetime - margin);
    }

    private sealed record CachedToken(string Token, DateTimeOffset ExpiresAt)
    {
        public override string ToString() => $"token until {ExpiresAt:O}";
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Parent token realm on {Scheme}://{Host} refused: not the parent's host nor an https host in parent.trustedRealmHosts; credentials were not sent")]
        public static partial void RealmRefused(ILogger logger, string scheme, string host);

        [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Parent sent a Bearer challenge without a usable realm")]
        public static partial void RealmInvalid(ILogger logger);

        [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Parent token endpoint on {Host} refused the sync token")]
        public static partial void TokenRefused(ILogger logger, string host);
    }
}
