using ConnectedRegistry.Core;

namespace ConnectedRegistry.Auth;

public enum IdentityKind
{
    Anonymous,
    ClientToken,
    Child,
}

/// <summary>
/// An identity known to the running settings: a client token, a child registry, or the anonymous
/// puller. <see cref="PasswordHash"/> is the stored hash (null for anonymous).
/// </summary>
public sealed record RegistryIdentity(string? Subject, IdentityKind Kind, string? PasswordHash, ScopeMap Permissions)
{
    public static RegistryIdentity Anonymous { get; } = new(null, IdentityKind.Anonymous, null, ScopeMap.AnonymousPull);

    public bool IsAnonymous => Kind == IdentityKind.Anonymous;

    public string Fingerprint => RegistryTokenService.Fingerprint(PasswordHash);
}

/// <summary>The settings, compiled for authentication: built once per settings instance.</summary>
public sealed class AuthPolicy
{
    private readonly Dictionary<string, RegistryIdentity> _tokens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (ClientTokenSettings Settings, RegistryIdentity Identity)> _clientTokens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RegistryIdentity> _children = new(StringComparer.Ordinal);

    public AuthPolicy(RegistrySettings settings)
    {
        Settings = settings;
        foreach (var (name, token) in settings.ClientTokens)
        {
            var identity = new RegistryIdentity(name, IdentityKind.ClientToken, token.PasswordHash, ScopeMap.FromScopeMap(token.ScopeMap));
            _clientTokens[name] = (token, identity);
        }

        foreach (var (name, child) in settings.Children)
        {
            _children[name] = new RegistryIdentity(name, IdentityKind.Child, child.SyncTokenPasswordHash, ScopeMap.ForChild(child));
        }
    }

    public RegistrySettings Settings { get; }

    /// <summary>
    /// Authentication is on as soon as the twin defines any client token or child. A registry with
    /// neither is open (as docker-registry is by default) and logs a warning.
    /// </summary>
    public bool Enabled => _clientTokens.Count > 0 || _children.Count > 0;

    public bool AnonymousPull => Settings.AnonymousPull;

    public bool IsReadOnly => Settings.Mode == RegistryMode.ReadOnly;

    /// <summary>The client token named <paramref name="name"/>, whether or not it is usable now.</summary>
    public bool TryGetClientToken(string name, out ClientTokenSettings settings, out RegistryIdentity identity)
    {
        if (_clientTokens.TryGetValue(name, out var entry))
        {
            (settings, identity) = entry;
            return true;
        }

        settings = null!;
        identity = null!;
        return false;
    }

    public bool TryGetChild(string name, out RegistryIdentity identity) => _children.TryGetValue(name, out identity!);

    /// <summary>True when a client token may sign in now: enabled and not past its expiry.</summary>
    public static bool IsUsable(ClientTokenSettings token, DateTimeOffset now) => token.Enabled && (token.Expiry is null || token.Expiry > now);

    /// <summary>
    /// The identity a previously issued token names, if it still exists, is usable now and has the same
    /// password hash as when the token was issued.
    /// </summary>
    public RegistryIdentity? Reconfirm(RegistryTokenClaims claims, DateTimeOffset now)
    {
        if (!Enum.TryParse<IdentityKind>(claims.Kind, out var kind))
        {
            return null;
        }

        RegistryIdentity? identity = kind switch
        {
            IdentityKind.Anonymous => AnonymousPull || !Enabled ? RegistryIdentity.Anonymous : null,
            IdentityKind.ClientToken => TryGetClientToken(claims.Subject, out var token, out var id) && IsUsable(token, now) ? id : null,
            IdentityKind.Child => TryGetChild(claims.Subject, out var child) ? child : null,
            _ => null,
        };
        return identity is not null && identity.Fingerprint == claims.Fingerprint ? identity : null;
    }
}

/// <summary>Keeps the compiled policy of the current settings, rebuilt when the settings change.</summary>
public sealed class AuthPolicyProvider
{
    private readonly IRegistrySettingsSource _settings;
    private AuthPolicy _policy;

    public AuthPolicyProvider(IRegistrySettingsSource settings)
    {
        _settings = settings;
        _policy = new AuthPolicy(settings.Current);
    }

    public AuthPolicy Current
    {
        get
        {
            var policy = Volatile.Read(ref _policy);
            var settings = _settings.Current;
            if (ReferenceEquals(policy.Settings, settings))
            {
                return policy;
            }

            policy = new AuthPolicy(settings);
            Volatile.Write(ref _policy, policy);
            return policy;
        }
    }
}
