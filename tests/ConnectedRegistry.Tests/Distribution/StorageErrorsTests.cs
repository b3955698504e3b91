using System.Net;
using ConnectedRegistry.Distribution;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Tests.Distribution;

/// <summary>Storage throws its own exceptions; the HTTP edge gives each its OCI error, with the headers a client needs.</summary>
public class StorageErrorsTests
{
    private static readonly Digest Expected = Digest.Compute("expected"u8);
    private static readonly Digest Actual = Digest.Compute("actual"u8);

    [Fact]
    public void A_digest_mismatch_is_digest_invalid_naming_both_digests()
    {
        var error = StorageErrors.ToOci(new DigestMismatchException(Expected, Actual, "partial blob content did not match its digest"));

        Assert.Equal(OciErrorCode.DigestInvalid, error.Error);
        Assert.Equal(HttpStatusCode.BadRequest, error.Error.Status);
        Assert.Equal("partial blob content did not match its digest", error.Message);
        Assert.Equal(Expected.ToString(), error.Detail!.GetType().GetProperty("expected")!.GetValue(error.Detail));
        Assert.Equal(Actual.ToString(), error.Detail.GetType().GetProperty("actual")!.GetValue(error.Detail));
        Assert.Empty(error.Headers);
    }

    [Fact]
    public void A_chunk_out_of_place_is_range_invalid_saying_where_the_session_stands()
    {
        var session = new UploadSession("0123456789abcdef0123456789abcdef", "team/app", DateTimeOffset.UnixEpoch, 0);

        var error = StorageErrors.ToOci(new UploadRangeException(session, 1000, "chunk starts at 1500 but the upload holds 1000 bytes"));

        Assert.Equal(OciErrorCode.RangeInvalid, error.Error);
        Assert.Equal("/v2/team/app/blobs/uploads/0123456789abcdef0123456789abcdef", error.Headers["Location"]);
        Assert.Equal("0-999", error.Headers["Range"]);
        Assert.Equal(session.Id, error.Headers["Docker-Upload-UUID"]);
        Assert.Equal("0-0", StorageErrors.ToOci(new UploadRangeException(session, 0, "empty")).Headers["Range"]);
    }

    [Fact]
    public void A_session_past_a_cap_is_too_many_requests_with_retry_after()
    {
        var error = StorageErrors.ToOci(new UploadSessionLimitException("the registry has 1000 open upload sessions, the most allowed; try again later"));

        Assert.Equal(OciErrorCode.TooManyRequests, error.Error);
        Assert.Equal("60", error.Headers["Retry-After"]);
    }

    [Fact]
    public void Every_storage_exception_has_its_OCI_error()
    {
        // A new storage exception must be given its translation in StorageErrors (and a test here).
        var types = typeof(StorageException).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(StorageException)) && !t.IsAbstract)
            .Select(t => t.Name)
            .Order(StringComparer.Ordinal);

        Assert.Equal(
            [
                nameof(DigestMismatchException), nameof(InvalidManifestException), nameof(InvalidRepositoryNameException), nameof(ManifestNotHeldException),
                nameof(ManifestReferencesMissingException), nameof(ManifestTooLargeException), nameof(PartialBlobMissingException), nameof(UploadRangeException),
                nameof(UploadSessionLimitException), nameof(UploadSessionUnknownException), nameof(UploadSizeMismatchException),
            ],
            types);
    }

    /// <summary>A refusal storage threw as an <see cref="OciException"/> of its own making before it had its own exceptions, and the exception it throws now.</summary>
    public sealed record Former(string Case, OciException Before, StorageException Now)
    {
        public override string ToString() => Case;
    }

    public static TheoryData<Former> FormerRefusals() =>
    [
        new("a repository name that is not one", new OciException(OciErrorCode.NameInvalid, "invalid repository name"), new InvalidRepositoryNameException()),
        new("a tag that is not one", new OciException(OciErrorCode.ManifestInvalid, "invalid tag"), new InvalidManifestException("invalid tag")),
        new("bytes that are not a manifest", new OciException(OciErrorCode.ManifestInvalid, "manifest is not valid JSON"), new InvalidManifestException("manifest is not valid JSON")),
        new("a manifest too large", new OciException(OciErrorCode.PayloadTooLarge, $"manifest exceeds {RegistryStore.MaxManifestBytes} bytes"), new ManifestTooLargeException(RegistryStore.MaxManifestBytes)),
        new("a tag at a manifest not held", new OciException(OciErrorCode.ManifestUnknown, "the repository does not hold that manifest"), new ManifestNotHeldException()),
        new("references missing", new OciException(OciErrorCode.ManifestBlobUnknown, "manifest references content unknown to the registry", new { digests = new[] { Expected.ToString(), Actual.ToString() } }),
            new ManifestReferencesMissingException([Expected.ToString(), Actual.ToString()])),
        new("an upload session not there", new OciException(OciErrorCode.BlobUploadUnknown), new UploadSessionUnknownException()),
        new("a chunk of another length than declared", new OciException(OciErrorCode.SizeInvalid, "declared 10 bytes but received 4"), new UploadSizeMismatchException(10, 4)),
        new("no partial blob to commit", new OciException(OciErrorCode.BlobUnknown, "no partial blob to commit"), new PartialBlobMissingException()),
    ];

    [Theory]
    [MemberData(nameof(FormerRefusals))]
    public void A_refusal_storage_now_throws_as_its_own_exception_gets_the_same_envelope_as_before(Former refusal)
    {
        var now = StorageErrors.ToOci(refusal.Now);

        Assert.Equal(refusal.Before.Error, now.Error);
        Assert.Equal(refusal.Before.Error.Status, now.Error.Status);
        Assert.Equal(OciErrorWriter.Envelope(refusal.Before.Error, refusal.Before.Message, refusal.Before.Detail), OciErrorWriter.Envelope(now.Error, now.Message, now.Detail));
        Assert.Empty(now.Headers);
    }
}
