using System.Globalization;
using Microsoft.AspNetCore.Http.Features;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using Microsoft.Extensions.Primitives;

namespace ConnectedRegistry.Auth;

/// <summary>
/// The Docker token endpoint at <c>/acr/oauth2/token</c> (the realm every challenge names: the IoT Edge API proxy
/// forwards only <c>/v2</c> and <c>/acr</c>), with <c>/oauth2/token</c> kept as an alias for direct access:
/// <list type="bullet">
/// <item><c>GET ?service=…&amp;scope=…[&amp;scope=…][&amp;offline_token=true]</c> with Basic credentials
/// (or none, for an anonymous token when anonymous pull is on) → <c>{token, access_token, expires_in, issued_at[, refresh_token]}</c>;</item>
/// <item><c>POST</c> form <c>grant_type=password</c> (username, password) or <c>grant_type=refresh_token</c>
/// (refresh_token), with service and scope (space separated) → <c>{access_token, token, expires_in, issued_at, scope, refresh_token}</c>.</item>
/// </list>
/// Tokens carry the intersection of the requested scopes and the identity's permissions.
/// </summary>
public static partial class TokenEndpoint
{
    /// <summary>The path challenges advertise: under <c>/acr</c>, so that it passes the stock IoT Edge API proxy.</summary>
    public const string Path = "/acr/oauth2/token";

    /// <summary>The earlier path, still served for clients that reach the registry directly.</summary>
    public const string LegacyPath = "/oauth2/token";

    /// <summary>Largest token request form accepted (a few credentials, scopes and a refresh token).</summary>
    public const int MaxFormBytes = 64 * 1024;

    public static IEndpointRouteBuilder MapTokenEndpoint(this IEndpointRouteBuilder endpoints)
    {
        foreach (var path in (string[])[Path, LegacyPath])
        {
            endpoints.MapGet(path, HandleGetAsync);
            endpoints.MapPost(path, HandlePostAsync);
        }

        return endpoints;
    }

    private static async Task<IResult> HandleGetAsync(HttpContext context, AuthPolicyProvider policies, RegistryAuthenticator authenticator, RegistryTokenService tokens, AuthOptions options, ILoggerFactory loggers)
    {
        var request = context.Request;
        var policy = policies.Current;
        var header = request.Headers.Authorization.ToString();
        RegistryIdentity identity;
        if (!policy.Enabled)
        {
            identity = RegistryIdentity.Anonymous;
        }
        else if (string.IsNullOrEmpty(header))
        {
            identity = policy.AnonymousPull ? RegistryIdentity.Anonymous : throw BasicChallenge(context, "credentials required");
        }
        else
        {
            var client = ClientAddress.Of(context, options.TrustedProxies);
            if (!RegistryAuthenticator.TryParseBasic(header, out var user, out var password))
            {
                authenticator.Refused(client);
                throw BasicChallenge(context, "the token endpoint takes Basic credentials");
            }

            identity = await authenticator.LoginAsync(policy, client, user, password, context.RequestAborted) ?? throw Failed(context, client, user, loggers);
        }

        var offline = string.Equals(request.Query["offline_token"], "true", StringComparison.OrdinalIgnoreCase);
        return Issue(context, tokens, options, identity, !policy.Enabled, request.Query["scope"], request.Query["service"], withRefresh: offline && !identity.IsAnonymous, existingRefresh: null, oauth: false);
    }

    private static async Task<IResult> HandlePostAsync(HttpContext context, AuthPolicyProvider policies, RegistryAuthenticator authenticator, RegistryTokenService tokens, AuthOptions options, TimeProvider time, ILoggerFactory loggers)
    {
        var form = await ReadFormAsync(context);
        var policy = policies.Current;
        var client = ClientAddress.Of(context, options.TrustedProxies);
        var grantType = form["grant_type"].ToString();
        RegistryIdentity identity;
        string? existingRefresh = null;
        switch (grantType)
        {
            case "password":
                var user = form["username"].ToString();
                var password = form["password"].ToString();
                if (!policy.Enabled)
                {
                    identity = RegistryIdentity.Anonymous;
                    break;
                }

                if (user.Length == 0)
                {
                    authenticator.Refused(client);
                    throw Failed(context, client, user, loggers);
                }

                identity = await authenticator.LoginAsync(policy, client, user, password, context.RequestAborted) ?? throw Failed(context, client, user, loggers);
                break;
            case "refresh_token":
                existingRefresh = form["refresh_token"].ToString();
                RegistryIdentity? confirmed = null;
                if (tokens.TryValidate(existingRefresh, TokenUse.Refresh, out var claims))
                {
                    confirmed = policy.Reconfirm(claims, time.GetUtcNow());
                }

                if (confirmed is null)
                {
                    // A valid refresh token costs one HMAC and is never refused; a bad one counts against the client.
                    authenticator.Refused(client);
                    throw Failed(context, client, null, loggers);
                }

                identity = confirmed;
                break;
            default:
                throw new OciException(OciErrorCode.Unsupported.WithStatus(System.Net.HttpStatusCode.BadRequest), "unsupported grant_type: use password or refresh_token");
        }

        return Issue(context, tokens, options, identity, !policy.Enabled, form["scope"], form["service"], withRefresh: !identity.IsAnonymous, existingRefresh, oauth: true);
    }

    /// <summary>The POST's form, read within <see cref="MaxFormBytes"/>; a body that is not a form, or too large, is refused.</summary>
    private static async Task<IFormCollection> ReadFormAsync(HttpContext context)
    {
        var request = context.Request;
        if (!request.HasFormContentType)
        {
            throw new OciException(OciErrorCode.Unsupported.WithStatus(System.Net.HttpStatusCode.BadRequest), "the token endpoint takes an application/x-www-form-urlencoded body");
        }

        // Kestrel's global body limit is off (blobs stream), and this endpoint answers anyone: bound the form here.
        if (request.ContentLength > MaxFormBytes)
        {
            throw new OciException(OciErrorCode.SizeInvalid.WithStatus(System.Net.HttpStatusCode.RequestEntityTooLarge), "the token request body is too large");
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
        {
            bodyLimit.MaxRequestBodySize = MaxFormBytes;
        }

        try
        {
            return await request.ReadFormAsync(context.RequestAborted);
        }
        catch (InvalidDataException)
        {
            throw new OciException(OciErrorCode.Unsupported.WithStatus(System.Net.HttpStatusCode.BadRequest), "the form body is malformed or too large");
        }
    }

    private static IResult Issue(HttpContext context, RegistryTokenService tokens, AuthOptions options, RegistryIdentity identity, bool open, StringValues scopes, StringValues service, bool withRefresh, string? existingRefresh, bool oauth)
    {
        var audience = service.ToString() is { Length: > 0 } s ? s : RegistryAuthMiddleware.PublicOrigin(context).Host;
        var subject = identity.Subject ?? "";
        var access = RegistryAuthenticator.Grant(identity, open, scopes.Where(v => v is not null).Select(v => v!));
        var claims = tokens.NewClaims(TokenUse.Access, subject, identity.Kind, identity.Fingerprint, audience, options.AccessTokenLifetime, access);
        var accessToken = tokens.Issue(claims);
        var issuedAt = DateTimeOffset.FromUnixTimeSeconds(claims.IssuedAt).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var body = new Dictionary<string, object>
        {
            ["token"] = accessToken,
            ["access_token"] = accessToken,
            ["expires_in"] = (int)options.AccessTokenLifetime.TotalSeconds,
            ["issued_at"] = issuedAt,
        };
        if (oauth)
        {
            body["scope"] = string.Join(' ', access.Select(a => $"{a.Type}:{a.Name}:{string.Join(',', a.Actions)}"));
        }

        if (withRefresh)
        {
            body["refresh_token"] = existingRefresh ?? tokens.Issue(tokens.NewClaims(TokenUse.Refresh, subject, identity.Kind, identity.Fingerprint, audience, options.RefreshTokenLifetime, []));
        }

        context.Response.Headers.CacheControl = "no-store";
        return Results.Json(body);
    }

    /// <summary>The failure was counted already; <paramref name="user"/> is null for a refresh token.</summary>
    private static OciException Failed(HttpContext context, ClientAddress client, string? user, ILoggerFactory loggers)
    {
        Log.LoginFailed(loggers.CreateLogger(typeof(TokenEndpoint)), user is null ? "(refresh token)" : LogText.Escape(user), client.Address);
        return BasicChallenge(context, "authentication failed: unknown name, wrong password, or a disabled or expired token");
    }

    private static OciException BasicChallenge(HttpContext context, string message)
    {
        var exception = new OciException(OciErrorCode.Unauthorized, message);
        exception.Headers["WWW-Authenticate"] = $"Basic realm=\"{RegistryAuthMiddleware.PublicOrigin(context).Host}\"";
        return exception;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 510, Level = LogLevel.Information, Message = "Token request failed for '{User}' from {Address}")]
        public static partial void LoginFailed(ILogger logger, string user, string address);

    }
}
