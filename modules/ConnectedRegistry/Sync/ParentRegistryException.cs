using System.Net;

namespace ConnectedRegistry.Sync;

/// <summary>The parent answered with an error (status and, when it sent the OCI envelope, the first error code).</summary>
public sealed class ParentRegistryException : Exception
{
    public ParentRegistryException(HttpStatusCode status, string? code, string message)
        : base(message)
    {
        Status = status;
        Code = code;
    }

    public HttpStatusCode Status { get; }

    public string? Code { get; }
}

/// <summary>Content from the parent did not match its digest (or was otherwise malformed); it was not stored.</summary>
public sealed class ParentContentException(string message) : Exception(message);
