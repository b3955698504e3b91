using System.Text.RegularExpressions;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Auth;

/// <summary>
/// The validation rules for client tokens and children, in one place: used by the <c>token</c> command
/// and meant for the twin's validator. Every method returns all problems found, as clear sentences
/// (empty when valid).
/// </summary>
public static partial class AuthRules
{
    public const int MaxClientTokens = 20;
    public const int MaxRepositoryPermissions = 500;

    /// <summary>Token names: 1–50 characters, letters, digits, '-' and '_', starting with a letter or digit (the twin's rule).</summary>
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$", RegexOptions.CultureInvariant)]
    private static partial Regex TokenNameRegex();

    /// <summary>Registry names: 5–40 characters, letters, digits, '-' and '_', starting with a letter.</summary>
    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_-]{4,39}$", RegexOptions.CultureInvariant)]
    private static partial Regex RegistryNameRegex();

    public static bool IsValidTokenName(string? name) => name is not null && TokenNameRegex().IsMatch(name);

    public static bool IsValidRegistryName(string? name) => name is not null && RegistryNameRegex().IsMatch(name);

    public static bool IsKnownAction(string? action) => action is not null && RegistryActions.All.Contains(action);

    public static List<string> ValidateScopeMap(string owner, IReadOnlyDictionary<string, IReadOnlyList<string>> scopeMap)
    {
        var errors = new List<string>();
        if (scopeMap.Count == 0)
        {
            errors.Add($"{owner}: the scope map is empty; give at least one repository pattern with actions");
        }

        if (scopeMap.Count > MaxRepositoryPermissions)
        {
            errors.Add($"{owner}: the scope map has {scopeMap.Count} repository permissions; at most {MaxRepositoryPermissions} are allowed");
        }

        foreach (var (pattern, actions) in scopeMap)
        {
            if (!RepositoryPattern.TryParse(pattern, out _))
            {
                errors.Add($"{owner}: '{pattern}' is not a repository name, 'prefix/*' or '*'");
            }

            if (actions.Count == 0)
            {
                errors.Add($"{owner}: '{pattern}' has no actions");
            }

            foreach (var action in actions)
            {
                if (!IsKnownAction(action))
                {
                    errors.Add($"{owner}: '{pattern}' has unknown action '{action}' (known: {string.Join(", ", RegistryActions.All)})");
                }
            }
        }

        return errors;
    }

    public static List<string> ValidateClientToken(string name, ClientTokenSettings token)
    {
        var errors = new List<string>();
        var owner = $"clientTokens.{name}";
        if (!IsValidTokenName(name))
        {
            errors.Add($"{owner}: the name must be 1-50 letters, digits, '-' or '_', starting with a letter or digit");
        }

        if (!PasswordHasher.IsWellFormed(token.PasswordHash))
        {
            errors.Add($"{owner}: passwordHash is not a hash made by the 'token create' command");
        }

        errors.AddRange(ValidateScopeMap(owner, token.ScopeMap));
        return errors;
    }

    public static List<string> ValidateClientTokens(IReadOnlyDictionary<string, ClientTokenSettings> tokens)
    {
        var errors = new List<string>();
        if (tokens.Count > MaxClientTokens)
        {
            errors.Add($"clientTokens: {tokens.Count} tokens defined; at most {MaxClientTokens} are allowed");
        }

        foreach (var (name, token) in tokens)
        {
            errors.AddRange(ValidateClientToken(name, token));
        }

        return errors;
    }

    public static List<string> ValidateChild(string name, ChildRegistrySettings child, RegistryMode parentMode)
    {
        var errors = new List<string>();
        var owner = $"children.{name}";
        if (!IsValidRegistryName(name))
        {
            errors.Add($"{owner}: the name must be 5-40 letters, digits, '-' or '_', starting with a letter");
        }

        if (!PasswordHasher.IsWellFormed(child.SyncTokenPasswordHash))
        {
            errors.Add($"{owner}: syncTokenPasswordHash is not a hash made by the 'token create --sync' command");
        }

        if (child.Repositories.Count == 0)
        {
            errors.Add($"{owner}: repositories is empty; give at least one repository name or 'prefix/*'");
        }

        if (child.Repositories.Count > MaxRepositoryPermissions)
        {
            errors.Add($"{owner}: {child.Repositories.Count} repositories; at most {MaxRepositoryPermissions} are allowed");
        }

        foreach (var repository in child.Repositories)
        {
            // As sync.repositories: names and prefix/* wildcards; '*' would hand a child the whole registry.
            if (repository == "*" || !RepositoryPattern.TryParse(repository, out _))
            {
                errors.Add($"{owner}: '{repository}' is not a repository name or 'prefix/*'");
            }
        }

        if (parentMode == RegistryMode.ReadOnly && child.Mode == RegistryMode.ReadWrite)
        {
            errors.Add($"{owner}: a ReadOnly registry may only have ReadOnly children");
        }

        return errors;
    }
}
