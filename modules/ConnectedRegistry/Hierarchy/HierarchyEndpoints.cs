using System.Globalization;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Hierarchy;

/// <summary>
/// The parent side of the hierarchy protocol, under <c>/acr/connected-registry/v1/</c> (so that it passes the stock IoT
/// Edge API proxy, which forwards only <c>/v2</c> and <c>/acr</c>), with <c>/connected-registry/v1/</c> kept as an alias
/// for children that reach this registry directly. Only child registries may call it:
/// each request authenticates here (Basic with the child's registry name and sync token password, or a bearer token
/// the token endpoint issued to the child), since the <c>/v2</c> middleware does not cover these routes. Errors use the
/// OCI envelope.
/// <list type="bullet">
/// <item><c>POST activate</c> <c>{instanceId, deviceId, moduleId, generationId, mode}</c> → 200 <c>{activationState, activated, changes}</c>,
/// 409 <c>ALREADY_ACTIVATED</c> (naming nothing of the holder), 403 <c>DENIED</c> (mode not allowed);</item>
/// <item><c>POST deactivate</c> (same body) → 200 <c>{released}</c>;</item>
/// <item><c>GET changes?since=SEQ&amp;wait=SECONDS&amp;n=LIMIT</c> → 200 <c>{last, truncated, more, changes: [{sequence, repository, tag, digest, operation, time}]}</c>,
/// only for repositories the child may read; waits up to <c>wait</c> seconds for a change when there is none.</item>
/// </list>
/// </summary>
public static partial class HierarchyEndpoints
{
    /// <summary>Where children call the API.</summary>
    public const string Prefix = "/acr/connected-registry/v1";

    /// <summary>The earlier prefix, still served for direct access (and tried by a child whose parent predates <see cref="Prefix"/>).</summary>
    public const string LegacyPrefix = "/connected-registry/v1";
    private const int MaxBodyBytes = 16 * 1024;

    /// <summary>The punctuation IoT Hub allows in device and module ids, besides ASCII letters and digits.</summary>
    private const string IdPunctuation = "- . + % _ # * ? ! ( ) , = @ $ '";
    private const int MaxIdLength = 128;

    public static IEndpointRouteBuilder MapHierarchyApi(this IEndpointRouteBuilder app)
    {
        foreach (var prefix in (string[])[Prefix, LegacyPrefix])
        {
            var group = app.MapGroup(prefix);
            group.MapPost("/activate", ActivateAsync);
            group.MapPost("/deactivate", DeactivateAsync);
            group.MapGet("/changes", ChangesAsync);
        }

        return app;
    }

    private static OciException RefuseMode(HttpContext context, string child, ActivationClaim claim, string message)
    {
        var time = context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow();
        context.RequestServices.GetService<IEventPublisher>()?.Publish(ChildActivations.ChildEvent(EventTypes.ChildRefused, child, claim.DeviceId, time, message));
        return new OciException(OciErrorCode.Denied, message);
    }

    private static async Task ActivateAsync(HttpContext context, ChildAuthentication auth, ChildActivations activations, ChangeLog changes, IRegistrySettingsSource settings)
    {
        var child = await auth.AuthenticateAsync(context);
        var claim = await ReadClaimAsync(context);
        var current = settings.Current;
        if (claim.Mode == RegistryMode.ReadWrite && current.Mode == RegistryMode.ReadOnly)
        {
            throw RefuseMode(context, child, claim, "a ReadWrite registry cannot be the child of a ReadOnly registry; deploy the child as ReadOnly");
        }

        if (claim.Mode == RegistryMode.ReadWrite && current.Children.TryGetValue(child, out var registered) && registered.Mode != RegistryMode.ReadWrite)
        {
            throw RefuseMode(context, child, claim, $"'{child}' is registered as {registered.Mode} at its parent; it cannot activate as ReadWrite");
        }

        var result = activations.Activate(child, claim);
        if (!result.Activated)
        {
            // Only that the identity is held elsewhere: who holds it (device, module, when last seen) is for the
            // operator, in this parent's log and events, not for whoever presents the child's sync token.
            throw new OciException(
                OciErrorCode.AlreadyActivated,
                $"the registry '{child}' is already active on another instance; deactivate it there, or call deactivateChild on the parent if that instance is gone (the parent's log names it)");
        }

        await WriteJsonAsync(context, new JObject
        {
            ["activationState"] = result.Holder.State,
            ["activated"] = result.Holder.Activated,
            ["changes"] = changes.Last,
        });
    }

    private static async Task DeactivateAsync(HttpContext context, ChildAuthentication auth, ChildActivations activations)
    {
        var child = await auth.AuthenticateAsync(context);
        var claim = await ReadClaimAsync(context);
        var released = activations.Deactivate(child, claim);
        await WriteJsonAsync(context, new JObject { ["released"] = released, ["activationState"] = activations.Get(child)?.State ?? ActivationStates.Inactive });
    }

    private static async Task ChangesAsync(HttpContext context, ChildAuthentication auth, ChangeLog changes, HierarchyOptions options, IHostApplicationLifetime lifetime, TimeProvider time)
    {
        var identity = await auth.AuthenticateIdentityAsync(context, touch: true);
        var query = context.Request.Query;
        var since = ParseLong(query["since"], "since", -1, long.MaxValue, defaultValue: -1);
        var wait = (int)ParseLong(query["wait"], "wait", 0, int.MaxValue, defaultValue: 0);
        var limit = (int)ParseLong(query["n"], "n", 1, 1000, defaultValue: 500);
        wait = Math.Min(wait, options.MaxWaitSeconds);
        bool Visible(string repository) => identity.Permissions.Allows(repository, RegistryActions.MetadataRead);

        ChangePage page;
        if (since < 0)
        {
            page = new ChangePage([], changes.Last, Truncated: false, More: false); // a new reader starts from now
        }
        else
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
            var deadline = time.GetUtcNow().AddSeconds(wait);
            page = changes.Read(since, limit, Visible);
            while (page.Changes.Count == 0 && !page.Truncated && !stop.IsCancellationRequested && deadline > time.GetUtcNow())
            {
                await changes.WaitAsync(page.Last, deadline - time.GetUtcNow(), stop.Token);
                page = changes.Read(page.Last, limit, Visible);
            }
        }

        var list = new JArray();
        foreach (var change in page.Changes)
        {
            list.Add(new JObject
            {
                ["sequence"] = change.Sequence,
                ["repository"] = change.Repository,
                ["tag"] = change.Tag,
                ["digest"] = change.Digest,
                ["operation"] = change.Operation,
                ["time"] = change.Time,
            });
        }

        await WriteJsonAsync(context, new JObject { ["last"] = page.Last, ["truncated"] = page.Truncated, ["more"] = page.More, ["changes"] = list });
    }

    private static long ParseLong(string? text, string name, long min, long max, long defaultValue)
    {
        if (string.IsNullOrEmpty(text))
        {
            return defaultValue;
        }

        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new OciException(OciErrorCode.RequestInvalid, $"'{name}' must be a whole number from {min} to {max}");
        }

        return value;
    }

    private static async Task<ActivationClaim> ReadClaimAsync(HttpContext context)
    {
        if (context.Request.ContentLength > MaxBodyBytes)
        {
            throw new OciException(OciErrorCode.RequestInvalid, "the request body is too large");
        }

        JObject body;
        try
        {
            using var reader = new StreamReader(context.Request.Body);
            var buffer = new char[MaxBodyBytes + 1];
            var read = await reader.ReadBlockAsync(buffer, context.RequestAborted);
            if (read > MaxBodyBytes)
            {
                throw new OciException(OciErrorCode.RequestInvalid, "the request body is too large");
            }

            body = JObject.Parse(new string(buffer, 0, read));
        }
        catch (JsonException)
        {
            throw new OciException(OciErrorCode.RequestInvalid, "the body must be a JSON object");
        }

        var instanceId = Text(body, "instanceId", required: true)!;
        var modeText = Text(body, "mode", required: false);
        var mode = RegistryMode.ReadOnly;
        // Only the two names: Enum.TryParse alone would also take numbers ("7") and comma lists ("ReadOnly,ReadWrite").
        if (modeText is not null && !(Enum.GetNames<RegistryMode>().Contains(modeText, StringComparer.OrdinalIgnoreCase) && Enum.TryParse(modeText, ignoreCase: true, out mode)))
        {
            throw new OciException(OciErrorCode.RequestInvalid, "'mode' must be ReadWrite or ReadOnly");
        }

        return new ActivationClaim(instanceId, Text(body, "deviceId", false), Text(body, "moduleId", false), Text(body, "generationId", false), mode);
    }

    /// <summary>
    /// One id of the claim, which the parent stores, logs, reports and sends in events: null when absent (and not
    /// required), else an id as IoT Hub issues them (<see cref="IsIotHubId"/>): a child under IoT Edge sends its
    /// device and module ids, the others are hex or digits. Anything else (a line separator, a bidirectional override,
    /// a space) is refused here instead of being escaped everywhere later.
    /// </summary>
    private static string? Text(JObject body, string name, bool required)
    {
        var token = body[name];
        if (token is null || token.Type == JTokenType.Null)
        {
            return required ? throw new OciException(OciErrorCode.RequestInvalid, $"'{name}' is required") : null;
        }

        var value = token.Type == JTokenType.String ? (string?)token : null;
        if (value is null || !IsIotHubId(value))
        {
            throw new OciException(OciErrorCode.RequestInvalid, $"'{name}' must be an IoT Hub id: 1 to {MaxIdLength} ASCII letters, digits and {IdPunctuation}");
        }

        return value;
    }

    /// <summary>Whether <paramref name="id"/> is a device or module id IoT Hub would take: 1 to 128 of its characters.</summary>
    internal static bool IsIotHubId(string id) =>
        id.Length is > 0 and <= MaxIdLength && id.All(c => char.IsAsciiLetterOrDigit(c) || (c != ' ' && IdPunctuation.Contains(c, StringComparison.Ordinal)));

    private static async Task WriteJsonAsync(HttpContext context, JObject body)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsync(body.ToString(Formatting.None), context.RequestAborted);
    }
}

/// <summary>
/// Authenticates a caller of the hierarchy API (<c>/acr/connected-registry/v1/</c> and its alias): a child registry by name and sync token password (Basic),
/// or a bearer token issued to a child. Failures count towards the same per-address limits as logins on <c>/v2</c>.
/// </summary>
public sealed partial class ChildAuthentication(
    AuthPolicyProvider policies, RegistryAuthenticator authenticator, RegistryTokenService tokens, AuthOptions options, ChildActivations activations, TimeProvider time, ILogger<ChildAuthentication> logger)
{
    public const string Challenge = "Basic realm=\"connected-registry\"";

    /// <summary>The child's registry name; throws the OCI error to answer otherwise. Activation records the contact itself.</summary>
    public async Task<string> AuthenticateAsync(HttpContext context) => (await AuthenticateIdentityAsync(context, touch: false)).Subject!;

    /// <param name="touch">Record the call as a contact of the child (only the active instance follows the change feed).</param>
    public async Task<RegistryIdentity> AuthenticateIdentityAsync(HttpContext context, bool touch)
    {
        var policy = policies.Current;
        if (!policy.Enabled)
        {
            // An open registry (no client token, no child) has no children to activate: they activate locally.
            throw new OciException(OciErrorCode.NameUnknown.WithStatus(System.Net.HttpStatusCode.NotFound), "this registry lists no child registries; activation is local");
        }

        var header = context.Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header))
        {
            throw Unauthorized("a child registry must authenticate with its registry name and sync token");
        }

        var client = ClientAddress.Of(context, options.TrustedProxies);
        RegistryIdentity? identity = null;
        string? user = null;
        if (RegistryAuthenticator.TryParseBasic(header, out var name, out var password))
        {
            // Counted by the one login path: a failure here is a failure on /v2 and at the token endpoint too.
            user = name;
            identity = await authenticator.LoginAsync(policy, client, name, password, context.RequestAborted);
        }
        else
        {
            // A bearer token costs one HMAC: a valid one is never refused; a bad one or a malformed header counts.
            if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && tokens.TryValidate(header["Bearer ".Length..].Trim(), TokenUse.Access, out var claims))
            {
                identity = policy.Reconfirm(claims, time.GetUtcNow());
            }

            if (identity is null)
            {
                authenticator.Refused(client);
            }
        }

        if (identity is null)
        {
            Log.LoginFailed(logger, user is null ? "(token)" : LogText.Escape(user), client.Address);
            throw Unauthorized("authentication failed: unknown child registry or wrong sync token password");
        }

        if (identity.Kind != IdentityKind.Child)
        {
            throw new OciException(OciErrorCode.Denied, "only child registries (sync tokens listed under children) may use this API");
        }

        if (touch)
        {
            activations.Touch(identity.Subject!);
        }

        return identity;
    }

    private static OciException Unauthorized(string message)
    {
        var error = new OciException(OciErrorCode.Unauthorized, message);
        error.Headers["WWW-Authenticate"] = Challenge;
        return error;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5020, Level = LogLevel.Information, Message = "Child registry login failed for '{User}' from {Address}")]
        public static partial void LoginFailed(ILogger logger, string user, string address);
    }
}
