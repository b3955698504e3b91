using System.Text.RegularExpressions;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Auth;

/// <summary>
/// The validation rules for client tokens and children, in one place: the <c>token</c> command and the twin's
/// parser both call them (names, hashes, limits, actions, repository patterns through <see cref="RepositoryPattern"/>),
/// so a token or child that one accepts the other accepts too. The twin's parser only reads the JSON shapes
/// (a string, an array, an object) and hands what it read here; <c>token create</c> does the same with its arguments.
/// Every Validate method returns all problems found, as clear sentences (empty when valid); a value echoed in a
/// sentence is cut at 64 characters, and a password hash is never echoed.
/// </summary>
public static partial class AuthRules
{
    public const int MaxClientTokens = 20;
    public const int MaxRepositoryPermissions = 500;
    public const int MinRegistryNameLength = 5;
    public const int MaxRegistryNameLength = 40;

    /// <summary>Token names: 1–50 characters, letters, digits, '-' and '_', starting with a letter or digit (the twin's rule).</summary>
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_-]{0,49}\z", RegexOptions.CultureInvariant)]
    private static partial Regex TokenNameRegex();

    /// <summary>Registry names: 5–40 characters, letters, digits, '-' and '_', starting with a letter.</summary>
    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9_-]{4,39}\z", RegexOptions.CultureInvariant)]
    private static partial Regex RegistryNameRegex();

    public static bool IsValidTokenName(string? name) => name is not null && TokenNameRegex().IsMatch(name);

    public static bool IsValidRegistryName(string? name) => name is not null && RegistryNameRegex().IsMatch(name);

    public static bool IsKnownAction(string? action) => action is not null && RegistryActions.All.Contains(action);

    /// <summary>At most <see cref="MaxClientTokens"/> client tokens.</summary>
    public static List<string> ValidateTokenCount(int count) =>
        count > MaxClientTokens ? [$"clientTokens: {count} tokens defined; at most {MaxClientTokens} are allowed"] : [];

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
                errors.Add($"{owner}: '{Shorten(pattern)}' is not a repository name, 'prefix/*' or '*'");
            }

            if (actions.Count == 0)
            {
                errors.Add($"{owner}: '{Shorten(pattern)}' has no actions");
            }

            foreach (var action in actions)
            {
                if (!IsKnownAction(action))
                {
                    errors.Add($"{owner}: '{Shorten(pattern)}' has unknown action '{Shorten(action)}' (known: {string.Join(", ", RegistryActions.All)})");
                }
            }
        }

        return errors;
    }

    public static List<string> ValidateClientToken(string name, ClientTokenSettings token)
    {
        var errors = new List<string>();
        var owner = $"clientTokens.{Shorten(name)}";
        if (!IsValidTokenName(name))
        {
            errors.Add($"{owner}: the name must be 1-50 letters, digits, '-' or '_', starting with a letter or digit");
        }

        if (string.IsNullOrWhiteSpace(token.PasswordHash))
        {
            errors.Add($"{owner}: passwordHash is required (the hash 'token create' prints)");
        }
        else if (!PasswordHasher.IsWellFormed(token.PasswordHash))
        {
            errors.Add($"{owner}: passwordHash is not a hash made by the 'token create' command");
        }

        errors.AddRange(ValidateScopeMap(owner, token.ScopeMap));
        return errors;
    }

    public static List<string> ValidateClientTokens(IReadOnlyDictionary<string, ClientTokenSettings> tokens)
    {
        var errors = ValidateTokenCount(tokens.Count);
        foreach (var (name, token) in tokens)
        {
            errors.AddRange(ValidateClientToken(name, token));
        }

        return errors;
    }

    public static List<string> ValidateChild(string name, ChildRegistrySettings child, RegistryMode parentMode)
    {
        var errors = new List<string>();
        var owner = $"children.{Shorten(name)}";
        if (!IsValidRegistryName(name))
        {
            errors.Add($"{owner}: the name must be 5-40 letters, digits, '-' or '_', starting with a letter");
        }

        if (string.IsNullOrWhiteSpace(child.SyncTokenPasswordHash))
        {
            errors.Add($"{owner}: syncTokenPasswordHash is required (the hash 'token create --sync' prints)");
        }
        else if (!PasswordHasher.IsWellFormed(child.SyncTokenPasswordHash))
        {
            errors.Add($"{owner}: syncTokenPasswordHash is not a hash made by the 'token create --sync' command");
        }

        // Counted without repeats: the twin keeps each repository once, and a repeated --repository is one too.
        var repositories = child.Repositories.Distinct(StringComparer.Ordinal).Count();
        if (repositories == 0)
        {
            errors.Add($"{owner}: repositories is empty; give at least one repository name or 'prefix/*'");
        }

        if (repositories > MaxRepositoryPermissions)
        {
            errors.Add($"{owner}: {repositories} repositories; at most {MaxRepositoryPermissions} are allowed");
        }

        foreach (var repository in child.Repositories)
        {
            // As sync.repositories: names and prefix/* wildcards; '*' would hand a child the whole registry.
            if (!RepositoryPattern.IsNameOrPrefix(repository))
            {
                errors.Add($"{owner}: '{Shorten(repository)}' is not a repository name or 'prefix/*'");
            }
        }

        if (parentMode == RegistryMode.ReadOnly && child.Mode == RegistryMode.ReadWrite)
        {
            errors.Add($"{owner}: a ReadOnly registry may only have ReadOnly children");
        }

        return errors;
    }

    /// <summary>Values echoed in a reason are cut, so a twin holding a huge string does not make a huge report.</summary>
    public static string Shorten(string value) => value.Length <= 64 ? value : value[..61] + "...";
}
