namespace ConnectedRegistry.Oci;

/// <summary>A client-visible registry error. Message and detail must never contain secrets or host paths.</summary>
public sealed class OciException : Exception
{
    public OciException(OciErrorCode error, string? message = null, object? detail = null)
        : base(message ?? error.Message)
    {
        Error = error;
        Detail = detail;
    }

    public OciErrorCode Error { get; }

    public object? Detail { get; }

    /// <summary>Extra response headers (for example <c>WWW-Authenticate</c>, <c>Range</c>, <c>Retry-After</c>).</summary>
    public IDictionary<string, string> Headers { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
}
