using ConnectedRegistry.Oci;
using Newtonsoft.Json;

namespace ConnectedRegistry.Distribution;

/// <summary>The one writer of the OCI error envelope <c>{"errors":[{code,message,detail}]}</c>.</summary>
public static class OciErrorWriter
{
    public static string Envelope(OciErrorCode error, string? message = null, object? detail = null)
    {
        var entry = new Dictionary<string, object?>
        {
            ["code"] = error.Code,
            ["message"] = message ?? error.Message,
        };
        if (detail is not null)
        {
            entry["detail"] = detail;
        }

        return JsonConvert.SerializeObject(new { errors = new[] { entry } });
    }

    public static async Task WriteAsync(HttpContext context, OciErrorCode error, string? message = null, object? detail = null, IDictionary<string, string>? headers = null)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            // Nothing more can be said to this client; abort so it sees a broken body, not a truncated success.
            context.Abort();
            return;
        }

        response.Clear();
        response.StatusCode = (int)error.Status;
        if (headers is not null)
        {
            foreach (var (name, value) in headers)
            {
                response.Headers[name] = value;
            }
        }

        response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
        if (context.Request.Method == HttpMethods.Head)
        {
            return;
        }

        response.ContentType = "application/json; charset=utf-8";
        await response.WriteAsync(Envelope(error, message, detail), context.RequestAborted);
    }

    public static Task WriteAsync(HttpContext context, OciException exception) =>
        WriteAsync(context, exception.Error, exception.Message, exception.Detail, exception.Headers);
}
