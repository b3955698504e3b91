using System.Globalization;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Auth;

/// <summary>
/// Authentication, authorization and ReadOnly enforcement for every <c>/v2</c> request, in this order:
/// <list type="number">
/// <item>credentials (Basic or Bearer) are checked; bad ones → 401 (counted per source address; at the
/// limit → 429 TOOMANYREQUESTS with Retry-After); none → anonymous when anonymous pull is on;</item>
/// <item>unauthenticated callers that need more than anonymous pull → 401 with a Bearer challenge;</item>
/// <item>in ReadOnly mode, client writes → 405 UNSUPPORTED (also when authentication is off);</item>
/// <item>missing permissions → 403 DENIED (or 401 insufficient_scope when only the bearer token's scope is short);
/// a mount whose source the caller may not read is let through for the endpoint to decline the mount;</item>
/// <item>the caller's <see cref="IRepositoryAccessFeature"/> is set for the endpoints.</item>
/// </list>
/// With no client token and no child in the settings, authentication is off and only ReadOnly applies.
/// Nothing here logs a password, a token or an Authorization header.
/// </summary>
public sealed partial class RegistryAuthMiddleware(
    RequestDelegate next,
    AuthPolicyProvider policies,
    RegistryAuthenticator authenticator,
    RegistryTokenService tokens,
    AuthOptions options,
    TimeProvider time,
    ILogger<RegistryAuthMiddleware> logger)
{
    public const string ReadOnlyMessage = "this registry is ReadOnly: pushes, mounts and deletes are refused";

    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        // Routing matches literal segments case-insensitively, so does the route: /V2/... reaches the same endpoints.
        if (OciRouteFeature.Of(context) is not { } parsed)
        {
            await next(context);
            return;
        }

        var requirement = AccessRequirement.For(request.Method, parsed.Route, key => request.Query[key]);
        var policy = policies.Current;
        if (!policy.Enabled)
        {
            RefuseWriteWhenReadOnly(policy, requirement);
            await next(context);
            return;
        }

        var (identity, tokenAccess) = await AuthenticateAsync(context, policy, requirement);
        if (identity is null || (identity.IsAnonymous && !AnonymousSuffices(identity, requirement)))
        {
            throw Challenge(context, requirement, null, "authentication required");
        }

        RefuseWriteWhenReadOnly(policy, requirement);
        if (requirement.Kind == AccessKind.Catalog && tokenAccess is not null && !tokenAccess.Any(a => a is { Type: "registry", Name: "catalog" }))
        {
            // As for repositories: a bearer token lists the catalog only when it was issued for registry:catalog:*.
            throw Challenge(context, requirement, "insufficient_scope", "the access token does not cover the catalog");
        }

        foreach (var need in requirement.Needs)
        {
            if (identity.Permissions.Allows(need.Repository, need.Action))
            {
                if (tokenAccess is not null && !RegistryAuthenticator.TokenCovers(tokenAccess, need.Repository, need.Action))
                {
                    // The caller may do this, but the bearer token was issued for less: ask for a new one.
                    throw Challenge(context, requirement, "insufficient_scope", "the access token does not cover this request");
                }

                continue;
            }

            if (need.Optional)
            {
                // The endpoint sees the same answer through IRepositoryAccessFeature and does not mount.
                continue;
            }

            Log.Denied(logger, LogText.Escape(identity.Subject ?? "anonymous"), need.Action, LogText.Escape(need.Repository));
            throw new OciException(OciErrorCode.Denied, $"requested access to the resource is denied: {need.Action} on repository '{need.Repository}'");
        }

        context.Features.Set<IRepositoryAccessFeature>(new RepositoryAccessFeature(identity));
        await next(context);
    }

    private static void RefuseWriteWhenReadOnly(AuthPolicy policy, AccessRequirement requirement)
    {
        if (policy.IsReadOnly && requirement.IsClientWrite)
        {
            throw new OciException(OciErrorCode.Unsupported, ReadOnlyMessage);
        }
    }

    /// <summary>Anonymous callers may read repositories (and see 404/405 for unknown routes); never the base or catalog.</summary>
    private static bool AnonymousSuffices(RegistryIdentity anonymous, AccessRequirement requirement) => requirement.Kind switch
    {
        AccessKind.Repository => requirement.Needs.All(n => anonymous.Permissions.Allows(n.Repository, n.Action)),
        AccessKind.Unknown => true,
        _ => false,
    };

    private async Task<(RegistryIdentity? Identity, IReadOnlyList<TokenAccess>? TokenAccess)> AuthenticateAsync(HttpContext context, AuthPolicy policy, AccessRequirement requirement)
    {
        string header = context.Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header))
        {
            return (policy.AnonymousPull ? RegistryIdentity.Anonymous : null, null);
        }

        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            // A bearer token costs one HMAC to check: never rate limited, so a valid one always gets through.
            var token = header["Bearer ".Length..].Trim();
            if (tokens.TryValidate(token, TokenUse.Access, out var claims))
            {
                var identity = policy.Reconfirm(claims, time.GetUtcNow());
                if (identity is not null)
                {
                    return (identity, claims.Access);
                }
            }

            throw Challenge(context, requirement, "invalid_token", "the access token is invalid or expired");
        }

        var client = ClientAddress.Of(context, options.TrustedProxies);
        if (RegistryAuthenticator.TryParseBasic(header, out var user, out var password))
        {
            var identity = await authenticator.LoginAsync(policy, client, user, password, context.RequestAborted);
            if (identity is not null)
            {
                return (identity, null);
            }

            Log.LoginFailed(logger, LogText.Escape(user), client.Address);
            throw Challenge(context, requirement, null, "authentication failed: unknown name, wrong password, or a disabled or expired token");
        }

        authenticator.Refused(client);
        throw Challenge(context, requirement, null, "unsupported Authorization scheme; use Basic or Bearer");
    }

    private static OciException Challenge(HttpContext context, AccessRequirement requirement, string? error, string message)
    {
        var (scheme, service) = PublicOrigin(context);
        var challenge = $"Bearer realm=\"{scheme}://{service}{TokenEndpoint.Path}\",service=\"{service}\"";
        var scope = ChallengeScope(requirement);
        if (scope is not null)
        {
            challenge += $",scope=\"{scope}\"";
        }

        if (error is not null)
        {
            challenge += $",error=\"{error}\"";
        }

        var exception = new OciException(OciErrorCode.Unauthorized, message);
        exception.Headers["WWW-Authenticate"] = challenge;
        return exception;
    }

    /// <summary>
    /// The scheme and host clients used to reach this registry: the request's own, or, when the TCP peer is a trusted
    /// proxy (<c>--trusted-proxies</c>, such as the IoT Edge API proxy terminating TLS), those it put in
    /// <c>X-Forwarded-Proto</c>/<c>X-Forwarded-Host</c>. From anyone else they are ignored: the realm is where docker
    /// sends the user's password, so a client must not be able to move it (nor could a page make a browser move it).
    /// Of a list (a proxy that appends) the last value counts, the one the nearest proxy added; values that are not a
    /// plain scheme or host[:port] are ignored.
    /// </summary>
    internal static (string Scheme, string Host) PublicOrigin(HttpContext context)
    {
        var request = context.Request;
        var scheme = request.Scheme;
        var host = request.Host.Value is { Length: > 0 } h && IsPlainHost(h) ? h : "localhost";
        var trusted = (context.RequestServices.GetService<AuthOptions>() ?? DefaultOptions).TrustedProxies;
        if (!trusted.IsProxy(context.Connection.RemoteIpAddress))
        {
            return (scheme, host);
        }

        var forwardedProto = LastValue(request.Headers["X-Forwarded-Proto"]);
        if (forwardedProto is "http" or "https")
        {
            scheme = forwardedProto;
        }

        var forwardedHost = LastValue(request.Headers["X-Forwarded-Host"]);
        if (forwardedHost.Length > 0 && IsPlainHost(forwardedHost))
        {
            host = forwardedHost;
        }

        return (scheme, host);
    }

    private static readonly AuthOptions DefaultOptions = new();

    /// <summary>The right-most value of a header that may be repeated or a comma-separated list; empty when there is none.</summary>
    private static string LastValue(Microsoft.Extensions.Primitives.StringValues values)
    {
        for (var i = values.Count - 1; i >= 0; i--)
        {
            var parts = (values[i] ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length > 0)
            {
                return parts[^1];
            }
        }

        return string.Empty;
    }

    private static bool IsPlainHost(string host) =>
        host.Length <= 255 && host.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or ':' or '[' or ']' or '_');

    /// <summary>The Docker scope a client should ask the token endpoint for to make this request.</summary>
    internal static string? ChallengeScope(AccessRequirement requirement)
    {
        switch (requirement.Kind)
        {
            case AccessKind.Catalog:
                return "registry:catalog:*";
            case AccessKind.Repository:
                // Several scopes are space separated (a mount also needs pull on its source).
                return string.Join(' ', requirement.Needs.Select(need => $"repository:{need.Repository}:{RegistryAuthenticator.ChallengeActions(need.Action)}"));
            default:
                return null;
        }
    }

    private sealed class RepositoryAccessFeature(RegistryIdentity identity) : IRepositoryAccessFeature
    {
        public string? Subject => identity.Subject;

        public bool Can(string repository, string action) => identity.Permissions.Allows(repository, action);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 500, Level = LogLevel.Information, Message = "Login failed for '{User}' from {Address}")]
        public static partial void LoginFailed(ILogger logger, string user, string address);

        [LoggerMessage(EventId = 502, Level = LogLevel.Information, Message = "Denied {Action} on '{Repository}' to '{Subject}'")]
        public static partial void Denied(ILogger logger, string subject, string action, string repository);
    }
}
