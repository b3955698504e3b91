using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Auth;

/// <summary>
/// Checks credentials against the running settings and turns requested Docker scopes into grants.
/// A client token and a child with the same name are both tried.
/// </summary>
public sealed class RegistryAuthenticator(CredentialVerifier verifier, TimeProvider time)
{
    /// <summary>The identity for a name and password, or null (wrong password, unknown, disabled or expired).</summary>
    public RegistryIdentity? CheckPassword(AuthPolicy policy, string user, string password)
    {
        var known = false;
        if (policy.TryGetClientToken(user, out var token, out var tokenIdentity))
        {
            known = true;
            if (verifier.Verify(user, password, token.PasswordHash) && AuthPolicy.IsUsable(token, time.GetUtcNow()))
            {
                return tokenIdentity;
            }
        }

        if (policy.TryGetChild(user, out var child))
        {
            known = true;
            if (verifier.Verify(user, password, child.PasswordHash))
            {
                return child;
            }
        }

        if (!known)
        {
            verifier.Verify(user, password, null);
        }

        return null;
    }

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

    /// <summary>The Docker scope action that covers a registry action.</summary>
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

    private static bool Holds(RegistryIdentity identity, string repository, string dockerAction) => dockerAction switch
    {
        "pull" => identity.Permissions.Allows(repository, RegistryActions.ContentRead) || identity.Permissions.Allows(repository, RegistryActions.MetadataRead),
        "push" => identity.Permissions.Allows(repository, RegistryActions.ContentWrite) || identity.Permissions.Allows(repository, RegistryActions.MetadataWrite),
        "delete" => identity.Permissions.Allows(repository, RegistryActions.ContentDelete),
        _ => false,
    };
}
