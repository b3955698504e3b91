using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Distribution;

/// <summary>
/// Fails closed: until settings have been applied (<see cref="IRegistrySettingsSource.NotApplied"/> is null: a desired
/// document now, or the last good one of an earlier run), every request but the <c>/v2/</c> base answers
/// 503 <c>UNAVAILABLE</c> naming why: no document yet, or the reasons the first ones were rejected. The settings in
/// force meanwhile are the built-in defaults, which have no token and so are an open registry: a rejected first
/// twin (a misspelt <c>clientTokens</c>) must not serve anonymous pushes. The base answers as usual so a client's
/// version check still finds a registry. The reasons are the parser's, which never hold a secret.
/// </summary>
public sealed class SettingsGateMiddleware(RequestDelegate next, IRegistrySettingsSource settings)
{
    /// <summary>The message cut here: a document with many errors must not make a huge answer.</summary>
    public const int MaxMessageLength = 2000;

    public Task InvokeAsync(HttpContext context)
    {
        if (settings.NotApplied is not { } reason || IsBase(context.Request.Path))
        {
            return next(context);
        }

        var message = $"the registry has no settings in force, so it serves nothing until a desired document applies: {reason}";
        throw new OciException(OciErrorCode.Unavailable, message.Length <= MaxMessageLength ? message : message[..(MaxMessageLength - 3)] + "...");
    }

    private static bool IsBase(PathString path) =>
        path.Equals("/v2", StringComparison.OrdinalIgnoreCase) || path.Equals("/v2/", StringComparison.OrdinalIgnoreCase);
}
