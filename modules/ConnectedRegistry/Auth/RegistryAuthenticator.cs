using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Auth;

/// <summary>
/// Checks credentials against the running settings and turns requested Docker scopes into grants.
/// A client token and a child with the same name are both tried. <see cref="LoginAsync"/> is the one path a
/// name and password take on every endpoint (the API, the token endpoint, the hierarchy API): a credential
/// verified in the last minutes is accepted without asking the failure limiter; anything else reserves its
/// place in the limiter, runs the KDF behind the process-wide gate (an unknown name waits as long instead), and
/// counts as a failure when wrong. Over a limit the password is still checked, one attempt at a time per address
/// and name, so failures never lock out the owner of a name; a wrong one is answered 429 after a delay.
/// </summary>
public sealed partial class RegistryAuthenticator(CredentialVerifier verifier, LoginRateLimiter limiter, AuthOptions options, TimeProvider time, ILogger<RegistryAuthenticator> logger)
{
    /// <summary>
    /// The identity for a Basic login from <paramref name="client"/>, or null (wrong password, unknown, disabled or
    /// expired; counted as a failure). Throws the 429 <see cref="OciException"/> when the client is over its limit
    /// and the password was wrong (or the name's lane was full), or when the password check is full.
    /// </summary>
    public async Task<RegistryIdentity?> LoginAsync(AuthPolicy policy, ClientAddress client, string user, string password, CancellationToken cancellationToken)
    {
        var candidates = Candidates(policy, user);
        foreach (var candidate in candidates)
        {
            if (verifier.IsRemembered(user, password, candidate.PasswordHash) && candidate.Usable())
            {
                return candidate.Identity;
            }
        }

        LoginRateLimiter.LoginAttempt attempt;
        try
        {
            attempt = await limiter.BeginAsync(client, user, knownName: candidates.Count > 0, cancellationToken);
        }
        catch (OciException)
        {
            Log.RateLimited(logger, client.Address, LogText.Escape(user));
            throw;
        }

        using (attempt)
        {
            if (candidates.Count == 0)
            {
                await verifier.UnknownNameAsync(cancellationToken);
            }

            foreach (var candidate in candidates)
            {
                if (await verifier.VerifyAsync(user, password, candidate.PasswordHash, cancellationToken) && candidate.Usable())
                {
                    return candidate.Identity;
                }
            }

            attempt.Failed(); // releases the lane before the answer is held back
            if (!attempt.OverLimit)
            {
                return null;
            }
        }

        Log.RateLimited(logger, client.Address, LogText.Escape(user));
        var refused = limiter.OverLimitFailure(attempt);
        await Task.Delay(options.FailureDelay, cancellationToken);
        throw refused;
    }

    /// <summary>
    /// Counts a failure that needed no KDF (a malformed header, a refresh token that did not validate) against
    /// <paramref name="client"/>, and throws the 429 when the client was already over its limit.
    /// </summary>
    public void Refused(ClientAddress client)
    {
        try
        {
            limiter.Begin(client, null).Failed();
        }
        catch (OciException)
        {
            Log.RateLimited(logger, client.Address, "(none)");
            throw;
        }
    }

    /// <summary>The identities <paramref name="user"/> may sign in as: a client token and a child of that name, in that order.</summary>
    private List<Candidate> Candidates(AuthPolicy policy, string user)
    {
        var candidates = new List<Candidate>(2);
        if (policy.TryGetClientToken(user, out var token, out var tokenIdentity) && token.PasswordHash is { } tokenHash)
        {
            candidates.Add(new Candidate(tokenHash, tokenIdentity, () => AuthPolicy.IsUsable(token, time.GetUtcNow())));
        }

        if (policy.TryGetChild(user, out var child) && child.PasswordHash is { } childHash)
        {
            candidates.Add(new Candidate(childHash, child, static () => true));
        }

        return candidates;
    }

    private sealed record Candidate(string PasswordHash, RegistryIdentity Identity, Func<bool> Usable);

    /// <summary>Parses <c>Basic base64(user:password)</c>; false when malformed.</summary>
    public static bool TryParseBasic(string header, out string user, out string password)
    {
        user = password = "";
        const string Prefix = "Basic ";
        if (!header.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[Prefix.Length..].Trim()));
        }
        catch (FormatException)
        {
            return false;
        }

        var colon = decoded.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return false;
        }

        user = decoded[..colon];
        password = decoded[(colon + 1)..];
        return true;
    }

    /// <summary>
    /// The intersection of the requested scopes (<c>repository:NAME:pull,push,delete,*</c>,
    /// <c>registry:catalog:*</c>; several per string, space separated) and what the identity may do.
    /// A scope the identity holds nothing of is left out (the token is still issued, as Docker expects).
    /// <paramref name="open"/> grants everything asked (registry without authentication).
    /// </summary>
    public static IReadOnlyList<TokenAccess> Grant(RegistryIdentity identity, bool open, IEnumerable<string> requestedScopes)
    {
        var repositories = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        var catalog = false;
        foreach (var scope in requestedScopes.SelectMany(s => s.Split(' ', StringSplitOptions.RemoveEmptyEntries)))
        {
            var first = scope.IndexOf(':', StringComparison.Ordinal);
            var last = scope.LastIndexOf(':');
            if (first <= 0 || last <= first)
            {
                continue;
            }

            var type = scope[..first];
            var paren = type.IndexOf('(', StringComparison.Ordinal);
            if (paren > 0)
            {
                type = type[..paren];
            }

            var name = scope[(first + 1)..last];
            var actions = scope[(last + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries);
            if (type == "registry" && name == "catalog" && actions.Contains("*"))
            {
                catalog |= open || !identity.IsAnonymous;
                continue;
            }

            if (type != "repository" || !RepositoryName.IsValid(name))
            {
                continue;
            }

            foreach (var action in actions.SelectMany(a => a == "*" ? ["pull", "push", "delete"] : new[] { a }))
            {
                if (open || Holds(identity, name, action))
                {
                    if (!repositories.TryGetValue(name, out var granted))
                    {
                        repositories[name] = granted = new SortedSet<string>(StringComparer.Ordinal);
                    }

                    granted.Add(action);
                }
            }
        }

        var result = repositories.Select(r => new TokenAccess("repository", r.Key, [.. r.Value])).ToList();
        if (catalog)
        {
            result.Add(new TokenAccess("registry", "catalog", ["*"]));
        }

        return result;
    }

    /// <summary>
    /// The Docker scope action that covers a registry action: the one mapping between the two, read both ways (what a
    /// token grants, what a challenge asks for, what an identity holds for a scope it asks).
    /// </summary>
    public static string DockerAction(string registryAction) => registryAction switch
    {
        RegistryActions.ContentRead or RegistryActions.MetadataRead => "pull",
        RegistryActions.ContentWrite or RegistryActions.MetadataWrite => "push",
        RegistryActions.ContentDelete => "delete",
        _ => registryAction,
    };

    /// <summary>True when a token's grants include <paramref name="registryAction"/> on <paramref name="repository"/>.</summary>
    public static bool TokenCovers(IReadOnlyList<TokenAccess> access, string repository, string registryAction)
    {
        var wanted = DockerAction(registryAction);
        return access.Any(a => a.Type == "repository" && a.Name == repository && (a.Actions.Contains(wanted) || a.Actions.Contains("*")));
    }

    /// <summary>
    /// The Docker scope to ask the token endpoint for to be granted <paramref name="registryAction"/>: a push also
    /// pulls (docker asks for both, and a blob's existence is checked before it is sent).
    /// </summary>
    public static string ChallengeActions(string registryAction) => DockerAction(registryAction) is "push" ? "pull,push" : DockerAction(registryAction);

    /// <summary>Whether the identity holds a registry action that <paramref name="dockerAction"/> covers (<see cref="DockerAction"/> read backwards).</summary>
    private static bool Holds(RegistryIdentity identity, string repository, string dockerAction) =>
        RegistryActions.All.Any(action => DockerAction(action) == dockerAction && identity.Permissions.Allows(repository, action));

    private static partial class Log
    {
        [LoggerMessage(EventId = 501, Level = LogLevel.Warning, Message = "Too many failed logins from {Address} (user '{User}'); refusing its attempts for now")]
        public static partial void RateLimited(ILogger logger, string address, string user);
    }
}
