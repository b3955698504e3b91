using System.Net;
using Polly.CircuitBreaker;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The one answer to "did this call to the parent fail because the link or the parent is down?", asked by the
/// resilience pipeline (what it retries, what opens its circuit), sync down and up, blob downloads, on-demand fetch
/// and the scheduler's short retry after a drop. Down means worth trying again as soon as the link may be back, as
/// opposed to the parent refusing or mis-serving one request (that item fails, the others go on). Kept in one place
/// because the places that each had their own disagreed on a timeout: HttpClient reports one as a
/// <see cref="TaskCanceledException"/> around a <see cref="TimeoutException"/>, which only some of them knew.
/// </summary>
public static class ParentFailure
{
    /// <summary>
    /// The call got no answer: a connection refused, reset or cut mid-body, a name that does not resolve, a timeout
    /// (bare, or HttpClient's <see cref="TaskCanceledException"/> around one). A cancellation by the caller is not one.
    /// A bare <see cref="System.Net.Sockets.SocketException"/> is one too: a connection reset the moment it was accepted
    /// (a link that refuses while it is down) can fail HttpClient's connect with "Transport endpoint is not connected"
    /// unwrapped, which under probes every 125-250 ms ended a blob's download as if the parent had refused it.
    /// </summary>
    public static bool IsNetworkError(Exception exception) =>
        exception is HttpRequestException or IOException or TimeoutException or System.Net.Sockets.SocketException or TaskCanceledException { InnerException: TimeoutException };

    /// <summary>A gateway's answer that it cannot reach the parent behind it: 502, 503, 504.</summary>
    public static bool IsGatewayFailure(HttpStatusCode status) => (int)status is 502 or 503 or 504;

    /// <summary>
    /// The parent cannot be reached: a network error, a gateway's failure (as an answer or as
    /// <see cref="ParentRegistryException"/>), or the open circuit, which stands for earlier ones.
    /// </summary>
    public static bool IsUnreachable(Exception exception) =>
        IsNetworkError(exception) || exception is BrokenCircuitException ||
        exception is ParentRegistryException { Status: var status } && IsGatewayFailure(status);
}
