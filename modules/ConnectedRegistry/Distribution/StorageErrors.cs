using System.Globalization;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Distribution;

/// <summary>
/// The one translation of storage's refusals (<see cref="StorageException"/>) into OCI errors, at the HTTP edge
/// (<see cref="OciErrorMiddleware"/>): the code, the detail a client reads and the headers it needs to go on.
/// Storage itself builds no HTTP header.
/// </summary>
internal static class StorageErrors
{
    public static OciException ToOci(StorageException exception)
    {
        switch (exception)
        {
            case DigestMismatchException mismatch:
                return new OciException(OciErrorCode.DigestInvalid, mismatch.Message, new { expected = mismatch.Expected.ToString(), actual = mismatch.Actual.ToString() });
            case UploadRangeException range:
            {
                // Where the session stands, as a 202 would say, so that the client can resume from there.
                var error = new OciException(OciErrorCode.RangeInvalid, range.Message);
                foreach (var (name, value) in BlobUploadEndpoints.SessionHeaders(range.Session.Repository, range.Session.Id, range.Length))
                {
                    error.Headers[name] = value;
                }

                return error;
            }

            case UploadSessionLimitException limit:
            {
                var error = new OciException(OciErrorCode.TooManyRequests, limit.Message);
                error.Headers["Retry-After"] = ((long)limit.RetryAfter.TotalSeconds).ToString(CultureInfo.InvariantCulture);
                return error;
            }

            case InvalidRepositoryNameException:
                return new OciException(OciErrorCode.NameInvalid, exception.Message);
            case InvalidManifestException:
                return new OciException(OciErrorCode.ManifestInvalid, exception.Message);
            case ManifestTooLargeException:
                return new OciException(OciErrorCode.PayloadTooLarge, exception.Message);
            case ManifestNotHeldException:
                return new OciException(OciErrorCode.ManifestUnknown, exception.Message);
            case ManifestReferencesMissingException references:
                return new OciException(OciErrorCode.ManifestBlobUnknown, references.Message, new { digests = references.Missing.ToArray() });
            case UploadSessionUnknownException:
                return new OciException(OciErrorCode.BlobUploadUnknown);
            case UploadSizeMismatchException:
                return new OciException(OciErrorCode.SizeInvalid, exception.Message);
            case PartialBlobMissingException:
                return new OciException(OciErrorCode.BlobUnknown, exception.Message);
            default:
                throw new InvalidOperationException($"no OCI error for {exception.GetType().Name}", exception);
        }
    }
}
