using System.Globalization;
using System.Text;
using ConnectedRegistry.Core;
using Microsoft.AspNetCore.Http.Features;

namespace ConnectedRegistry.Monitoring;

/// <summary>
/// One line per request, only with <c>--access-log</c>, in the Common Log Format followed by the time taken:
/// <c>127.0.0.1 - line-puller [01/Dec/2026:20:16:01 +0000] "GET /v2/factory/app/manifests/1.0 HTTP/1.1" 200 1234 0.8ms</c>.
/// The user is the token or child name that authenticated (never a password); the target is the raw request
/// target with control characters, quotes and backslashes escaped, cut at 1024 characters, and without the
/// query of the token endpoint.
/// </summary>
public sealed partial class AccessLog(MonitoringOptions options, TimeProvider time, ILogger<AccessLog> logger)
{
    private const int MaxTarget = 1024;

    public bool Enabled => options.AccessLog;

    public void Write(HttpContext context, int status, long sentBytes, TimeSpan elapsed)
    {
        if (!options.AccessLog || !logger.IsEnabled(LogLevel.Information))
        {
            return;
        }

        var request = context.Request;
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget is { Length: > 0 } raw ? raw : request.Path.Value + request.QueryString.Value;
        if (HttpMetricsMiddleware.IsTokenPath(request.Path) && target.IndexOf('?') is var q and >= 0)
        {
            target = target[..q];
        }

        var user = context.Features.Get<IRepositoryAccessFeature>()?.Subject;
        Log.Request(
            logger,
            context.Connection.RemoteIpAddress?.ToString() ?? "-",
            string.IsNullOrEmpty(user) ? "-" : Escape(user),
            time.GetUtcNow().ToString("dd/MMM/yyyy:HH:mm:ss +0000", CultureInfo.InvariantCulture),
            request.Method,
            Escape(target),
            request.Protocol,
            status,
            sentBytes,
            elapsed.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture));
    }

    /// <summary>Keeps a line one line: control characters, <c>"</c> and <c>\</c> become <c>\xHH</c>; long text is cut.</summary>
    internal static string Escape(string text)
    {
        if (text.Length <= MaxTarget && IsClean(text))
        {
            return text;
        }

        var builder = new StringBuilder(Math.Min(text.Length, MaxTarget) + 16);
        foreach (var c in text)
        {
            if (builder.Length >= MaxTarget)
            {
                builder.Append("...");
                break;
            }

            if (IsPlain(c))
            {
                builder.Append(c);
            }
            else
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:X2}");
            }
        }

        return builder.ToString();
    }

    private static bool IsClean(string text)
    {
        foreach (var c in text)
        {
            if (!IsPlain(c))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsPlain(char c) => c >= 0x20 && c < 0x7f && c is not '"' and not '\\';

    private static partial class Log
    {
        [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "{Client} - {User} [{Time}] \"{Method} {Target} {Protocol}\" {Status} {Bytes} {Milliseconds}ms")]
        public static partial void Request(ILogger logger, string client, string user, string time, string method, string target, string protocol, int status, long bytes, string milliseconds);
    }
}
