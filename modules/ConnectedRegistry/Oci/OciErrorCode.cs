using System.Net;

namespace ConnectedRegistry.Oci;

/// <summary>
/// The one table of OCI error codes: each code once, with its HTTP status and default message
/// (OCI distribution spec, "Error Codes"; distribution/distribution errcode/register.go).
/// Handlers throw <see cref="OciException"/> with a code and optional detail; one writer emits the envelope.
/// </summary>
public sealed record OciErrorCode(string Code, HttpStatusCode Status, string Message)
{
    public static readonly OciErrorCode BlobUnknown = new("BLOB_UNKNOWN", HttpStatusCode.NotFound, "blob unknown to registry");
    public static readonly OciErrorCode BlobUploadInvalid = new("BLOB_UPLOAD_INVALID", HttpStatusCode.BadRequest, "blob upload invalid");
    public static readonly OciErrorCode BlobUploadUnknown = new("BLOB_UPLOAD_UNKNOWN", HttpStatusCode.NotFound, "blob upload unknown to registry");
    public static readonly OciErrorCode DigestInvalid = new("DIGEST_INVALID", HttpStatusCode.BadRequest, "provided digest did not match uploaded content");
    public static readonly OciErrorCode ManifestBlobUnknown = new("MANIFEST_BLOB_UNKNOWN", HttpStatusCode.BadRequest, "manifest references a manifest or blob unknown to registry");
    public static readonly OciErrorCode ManifestInvalid = new("MANIFEST_INVALID", HttpStatusCode.BadRequest, "manifest invalid");
    public static readonly OciErrorCode ManifestUnknown = new("MANIFEST_UNKNOWN", HttpStatusCode.NotFound, "manifest unknown to registry");
    public static readonly OciErrorCode NameInvalid = new("NAME_INVALID", HttpStatusCode.BadRequest, "invalid repository name");
    public static readonly OciErrorCode NameUnknown = new("NAME_UNKNOWN", HttpStatusCode.NotFound, "repository name not known to registry");
    public static readonly OciErrorCode SizeInvalid = new("SIZE_INVALID", HttpStatusCode.BadRequest, "provided length did not match content length");
    public static readonly OciErrorCode Unauthorized = new("UNAUTHORIZED", HttpStatusCode.Unauthorized, "authentication required");
    public static readonly OciErrorCode Denied = new("DENIED", HttpStatusCode.Forbidden, "requested access to the resource is denied");
    public static readonly OciErrorCode Unsupported = new("UNSUPPORTED", HttpStatusCode.MethodNotAllowed, "the operation is unsupported");
    public static readonly OciErrorCode TooManyRequests = new("TOOMANYREQUESTS", HttpStatusCode.TooManyRequests, "too many requests");
    public static readonly OciErrorCode RangeInvalid = new("RANGE_INVALID", HttpStatusCode.RequestedRangeNotSatisfiable, "invalid content range");
    public static readonly OciErrorCode PayloadTooLarge = new("MANIFEST_INVALID", HttpStatusCode.RequestEntityTooLarge, "manifest too large");
    public static readonly OciErrorCode PaginationNumberInvalid = new("PAGINATION_NUMBER_INVALID", HttpStatusCode.BadRequest, "invalid number of results requested");

    // Not in the spec's table (distribution answers a full disk with a 500 UNKNOWN): an upper-case code, as the spec's
    // format asks, with the status that names the cause; Docker, containerd and skopeo print the message and the status.
    public static readonly OciErrorCode InsufficientStorage = new("INSUFFICIENT_STORAGE", HttpStatusCode.InsufficientStorage, "insufficient storage on the registry");

    // Not in the spec's table either: distribution's own code for a registry that cannot serve now (errcode
    // ErrorCodeUnavailable, 503). Answered to every request but the /v2/ base until settings apply (fail closed).
    public static readonly OciErrorCode Unavailable = new("UNAVAILABLE", HttpStatusCode.ServiceUnavailable, "service unavailable");

    // Connected registry hierarchy (/connected-registry/v1/): not OCI codes, but the same envelope.
    public static readonly OciErrorCode AlreadyActivated = new("ALREADY_ACTIVATED", HttpStatusCode.Conflict, "the registry identity is already active on another instance");
    public static readonly OciErrorCode RequestInvalid = new("REQUEST_INVALID", HttpStatusCode.BadRequest, "request invalid");

    /// <summary>The same code with another HTTP status (the spec lets some codes travel with several statuses).</summary>
    public OciErrorCode WithStatus(HttpStatusCode status) => this with { Status = status };
}
