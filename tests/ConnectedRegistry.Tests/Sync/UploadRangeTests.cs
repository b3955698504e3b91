using System.Net;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Tests.Sync;

/// <summary>
/// How many bytes a parent's upload session holds, read from its <c>Range: 0-N</c> answer: N is the last byte's
/// offset, so N + 1 bytes, and <c>0-0</c> (what CNCF distribution and this module send for a new session) is empty.
/// </summary>
public sealed class UploadRangeTests
{
    [Theory]
    [InlineData("0-0", 0L)]
    [InlineData("0-1", 2L)]
    [InlineData("0-8388607", 8388608L)]
    [InlineData("bytes=0-99", 100L)]
    public void A_range_from_0_to_N_is_N_plus_1_bytes_and_0_0_is_empty(string header, long expected)
    {
        using var response = new HttpResponseMessage(HttpStatusCode.NoContent);
        response.Headers.TryAddWithoutValidation("Range", header);

        Assert.Equal(expected, ParentRegistryClient.UploadRange(response));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("5-9")]
    [InlineData("0-")]
    [InlineData("0--1")]
    [InlineData("0-x")]
    [InlineData("0-9223372036854775807")]
    public void A_missing_or_unusable_range_says_nothing(string? header)
    {
        using var response = new HttpResponseMessage(HttpStatusCode.NoContent);
        if (header is not null)
        {
            response.Headers.TryAddWithoutValidation("Range", header);
        }

        Assert.Null(ParentRegistryClient.UploadRange(response));
    }
}
