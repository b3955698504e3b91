using ConnectedRegistry.Core;

namespace ConnectedRegistry.Auth;

/// <summary>Tunables of authentication. Defaults suit a device; tests may register their own instance.</summary>
public sealed class AuthOptions
{
    /// <summary>Lifetime of access tokens from the token endpoint (clients ask for a new one when it runs out).</summary>
    public TimeSpan AccessTokenLifetime { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Lifetime of refresh tokens (docker's identity token). They also die when the password hash changes.</summary>
    public TimeSpan RefreshTokenLifetime { get; init; } = TimeSpan.FromDays(30);

    /// <summary>How long a successful password check is remembered after its last use.</summary>
    public TimeSpan VerificationCacheLifetime { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Failed logins per source address and user name within <see cref="FailureWindow"/> before that name's attempts from that address are refused.</summary>
    public int MaxFailuresPerWindow { get; init; } = 10;

    /// <summary>Failed logins per source address (any names) within <see cref="FailureWindow"/> before every attempt from that address is refused.</summary>
    public int MaxFailuresPerAddress { get; init; } = 50;

    public TimeSpan FailureWindow { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long a wrong password checked over a limit waits before its 429; by default the window divided by
    /// <see cref="MaxFailuresPerWindow"/> (6 s), so a guesser that waits for its answers gets no more than the limit's rate.
    /// </summary>
    public TimeSpan? OverLimitFailureDelay { get; init; }

    /// <summary><see cref="OverLimitFailureDelay"/> or its default.</summary>
    public TimeSpan FailureDelay => OverLimitFailureDelay ?? FailureWindow / Math.Max(1, MaxFailuresPerWindow);

    /// <summary>
    /// Password checks (PBKDF2 runs) at the same time: one per two cores (at least one), so logins never take more
    /// than half the CPU; more wait in a short queue, past it a fast 429.
    /// </summary>
    public int MaxConcurrentKdfRuns { get; init; } = Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>Password checks that may wait for a free slot (8 per slot); one more is answered 429 at once.</summary>
    public int KdfQueueLength { get; init; } = 8 * Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>How long a queued password check waits for a slot before it is answered 429.</summary>
    public TimeSpan KdfQueueTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Proxies whose <c>X-Forwarded-For</c> names the client (<c>--trusted-proxies</c>, <c>REGISTRY_TRUSTED_PROXIES</c>).</summary>
    public TrustedProxies TrustedProxies { get; init; } = TrustedProxies.Parse(TrustedProxies.Default);

    public static readonly StartupOption TrustedProxiesOption = new("trusted-proxies", "REGISTRY_TRUSTED_PROXIES");

    /// <summary>Reads <c>--trusted-proxies</c> (or <c>REGISTRY_TRUSTED_PROXIES</c>; an empty value trusts nobody); everything else keeps its default.</summary>
    /// <exception cref="StartupException">An entry is not an address or a range.</exception>
    public static AuthOptions FromConfiguration(IConfiguration configuration) =>
        StartupConfiguration.Given(configuration, TrustedProxiesOption) is { } value
            ? new AuthOptions { TrustedProxies = TrustedProxies.Parse(value, TrustedProxiesOption) }
            : new AuthOptions();
}
