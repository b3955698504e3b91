namespace ConnectedRegistry.Sync;

/// <summary>How the parent client connects and how hard it tries. Defaults suit a slow, flaky link.</summary>
public sealed record ParentClientOptions
{
    /// <summary>Environment variable naming an extra PEM file of trusted root certificates for the parent.</summary>
    public const string CaFileVariable = "PARENT_CA_FILE";

    /// <summary>A PEM file whose certificates are trusted for the parent in addition to the system store.</summary>
    public string? CaFile { get; init; }

    /// <summary>More trusted roots, in addition to the system store and <see cref="CaFile"/> (the IoT Edge trust bundle).</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2Collection? ExtraTrust { get; init; }

    /// <summary>
    /// Hosts besides the parent's own that may receive the sync token's credentials over https (twin
    /// <c>parent.trustedRealmHosts</c>): a token realm, or a <c>Link</c> or <c>Location</c> the parent names there.
    /// </summary>
    public IReadOnlyList<string> TrustedRealmHosts { get; init; } = [];

    /// <summary>The shared cap on bytes to and from the parent (<c>sync.bandwidth</c>); null: the transport is not throttled.</summary>
    public LinkThrottle? Throttle { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// TCP keepalive on every connection to the parent: the first probe after this long without a byte either way. A
    /// path that dies without a reset (a NAT, VPN or satellite terminal dropping its state) is then found while the
    /// module waits for an answer, instead of holding the request until the kernel gives up (about 15 minutes with
    /// bytes unacknowledged, never without).
    /// </summary>
    public TimeSpan KeepAliveIdle { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Between two keepalive probes (<see cref="KeepAliveIdle"/>).</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Keepalive probes unanswered before the connection is dropped (<see cref="KeepAliveIdle"/>).</summary>
    public int KeepAliveProbes { get; init; } = 3;

    /// <summary>
    /// How long bytes sent to the parent may stay unacknowledged before the connection is dropped (Linux
    /// <c>TCP_USER_TIMEOUT</c>; also bounds the keepalive probes). Far above a loaded satellite link's round trip.
    /// </summary>
    public TimeSpan UnacknowledgedTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The idle limit on every body the parent sends before the twin sets its own (<c>sync.parentIdleTimeout</c>).</summary>
    public static readonly TimeSpan DefaultBodyIdleTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How long a read of the parent's body may get no byte (<see cref="ParentBodyIdleHandler"/>).</summary>
    public TimeSpan BodyIdleTimeout { get; init; } = DefaultBodyIdleTimeout;

    /// <summary>Retries after the first attempt for network errors, 429 and 5xx.</summary>
    public int MaxRetries { get; init; } = 4;

    /// <summary>
    /// First retry delay after 429 or a 5xx; doubled each time, with jitter. After a network error, how long the link is
    /// probed (every <see cref="ProbeDelay"/>) before that counts as one failed attempt.
    /// </summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// After a network error (a refused or reset connection: a dropped link), the parent is asked again every half to
    /// one of this (at most <see cref="RetryBaseDelay"/>), so a transfer resumes within it of the link coming back.
    /// </summary>
    public TimeSpan ProbeDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Upper bound for one delay, also for a parent's <c>Retry-After</c>.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Failed attempts (within <see cref="BreakerSamplingDuration"/>, 90 % of those made) that open the circuit; a series of
    /// probes after a network error is one attempt.
    /// </summary>
    public int BreakerMinimumThroughput { get; init; } = 6;

    public TimeSpan BreakerSamplingDuration { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long an open circuit refuses calls without touching the network before it lets one through to probe: short,
    /// so a link that came back is used within seconds (a failed probe opens it again for as long).
    /// </summary>
    public TimeSpan BreakerDuration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Largest manifest accepted from the parent.</summary>
    public int MaxManifestBytes { get; init; } = 4 * 1024 * 1024;

    public int PageSize { get; init; } = 1000;

    public string UserAgent { get; init; } = "EdgeConnectedRegistry/0.1";
}
