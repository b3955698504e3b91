namespace ConnectedRegistry.Auth;

/// <summary>Tunables of authentication. Defaults suit a device; tests may register their own instance.</summary>
public sealed class AuthOptions
{
    /// <summary>Lifetime of access tokens from the token endpoint (clients ask for a new one when it runs out).</summary>
    public TimeSpan AccessTokenLifetime { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Lifetime of refresh tokens (docker's identity token). They also die when the password hash changes.</summary>
    public TimeSpan RefreshTokenLifetime { get; init; } = TimeSpan.FromDays(30);

    /// <summary>How long a successful password check is remembered.</summary>
    public TimeSpan VerificationCacheLifetime { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Failed logins per source address and user name within <see cref="FailureWindow"/> before that name's attempts from that address are refused.</summary>
    public int MaxFailuresPerWindow { get; init; } = 10;

    /// <summary>Failed logins per source address (any names) within <see cref="FailureWindow"/> before every attempt from that address is refused.</summary>
    public int MaxFailuresPerAddress { get; init; } = 50;

    public TimeSpan FailureWindow { get; init; } = TimeSpan.FromMinutes(1);
}
