using System.Net;
using ConnectedRegistry.Sync;
using Polly.CircuitBreaker;

namespace ConnectedRegistry.Tests.Sync;

/// <summary>
/// The one classification of a failed call to the parent, which the resilience pipeline, sync down and up, blob
/// downloads, on-demand fetch and the scheduler all use: each row is an exception and what it says about the parent.
/// </summary>
public class ParentFailureTests
{
    public static TheoryData<string, Exception, bool, bool> Table() => new()
    {
        // case, exception, no answer (network error), parent unreachable
        { "connection refused", new HttpRequestException("Connection refused"), true, true },
        { "connection reset mid-body", new IOException("Connection reset by peer"), true, true },
        { "a connection reset as it was made (the handler reads its remote end)", new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.NotConnected), true, true },
        { "a parent read cut off", new ParentReadException(new IOException("unexpected end of stream")), true, true },
        { "HttpClient's timeout", new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout", new TimeoutException()), true, true },
        { "a bare timeout", new TimeoutException(), true, true },
        { "the open circuit", new BrokenCircuitException(), false, true },
        { "502 from a gateway", Refused(HttpStatusCode.BadGateway), false, true },
        { "503 from a gateway", Refused(HttpStatusCode.ServiceUnavailable), false, true },
        { "504 from a gateway", Refused(HttpStatusCode.GatewayTimeout), false, true },
        { "the caller cancelled", new TaskCanceledException(), false, false },
        { "the caller cancelled (OperationCanceled)", new OperationCanceledException(), false, false },
        { "404", Refused(HttpStatusCode.NotFound), false, false },
        { "401", Refused(HttpStatusCode.Unauthorized), false, false },
        { "500", Refused(HttpStatusCode.InternalServerError), false, false },
        { "429", Refused(HttpStatusCode.TooManyRequests), false, false },
        { "bytes that do not match their digest", new ParentContentException("blob did not match its digest"), false, false },
        { "anything else", new InvalidOperationException(), false, false },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Each_failure_is_classified_once_for_every_caller(string failure, Exception exception, bool networkError, bool unreachable)
    {
        Assert.True(networkError == ParentFailure.IsNetworkError(exception), $"{failure}: network error should be {networkError}");
        Assert.True(unreachable == ParentFailure.IsUnreachable(exception), $"{failure}: unreachable should be {unreachable}");
    }

    [Theory]
    [InlineData(HttpStatusCode.BadGateway, true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, true)]
    [InlineData(HttpStatusCode.GatewayTimeout, true)]
    [InlineData(HttpStatusCode.InternalServerError, false)]
    [InlineData(HttpStatusCode.TooManyRequests, false)]
    [InlineData(HttpStatusCode.NotFound, false)]
    public void Only_502_503_and_504_say_a_gateway_cannot_reach_the_parent(HttpStatusCode status, bool gatewayFailure) =>
        Assert.Equal(gatewayFailure, ParentFailure.IsGatewayFailure(status));

    private static ParentRegistryException Refused(HttpStatusCode status) => new(status, null, $"parent answered {(int)status}");
}
