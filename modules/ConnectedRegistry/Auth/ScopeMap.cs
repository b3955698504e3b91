using ConnectedRegistry.Core;

namespace ConnectedRegistry.Auth;

/// <summary>
/// What an identity may do: repository patterns, each with a set of actions. Permissions add up across
/// every pattern that matches a repository. Built once per settings version from a token's scope map
/// or a child's repository list.
/// </summary>
public sealed class ScopeMap
{
    private readonly (RepositoryPattern Pattern, HashSet<string> Actions)[] _entries;

    private ScopeMap((RepositoryPattern, HashSet<string>)[] entries) => _entries = entries;

    public static ScopeMap Empty { get; } = new([]);

    /// <summary>Builds from a twin scope map. Invalid patterns and unknown actions (validation rejects them first) grant nothing.</summary>
    public static ScopeMap FromScopeMap(IReadOnlyDictionary<string, IReadOnlyList<string>> scopeMap)
    {
        var entries = new List<(RepositoryPattern, HashSet<string>)>(scopeMap.Count);
        foreach (var (text, actions) in scopeMap)
        {
            if (RepositoryPattern.TryParse(text, out var pattern))
            {
                entries.Add((pattern, new HashSet<string>(actions.Where(a => RegistryActions.All.Contains(a)), StringComparer.Ordinal)));
            }
        }

        return new ScopeMap([.. entries]);
    }

    /// <summary>A child registry: read always, write too when the child is ReadWrite.</summary>
    public static ScopeMap ForChild(ChildRegistrySettings child)
    {
        var actions = child.Mode == RegistryMode.ReadWrite
            ? new[] { RegistryActions.ContentRead, RegistryActions.MetadataRead, RegistryActions.ContentWrite, RegistryActions.MetadataWrite }
            : [RegistryActions.ContentRead, RegistryActions.MetadataRead];
        var map = child.Repositories.ToDictionary(r => r, _ => (IReadOnlyList<string>)actions, StringComparer.Ordinal);
        return FromScopeMap(map);
    }

    /// <summary>Anonymous pull: read every repository.</summary>
    public static ScopeMap AnonymousPull { get; } = FromScopeMap(new Dictionary<string, IReadOnlyList<string>>
    {
        ["*"] = [RegistryActions.ContentRead, RegistryActions.MetadataRead],
    });

    public bool Allows(string repository, string action)
    {
        foreach (var (pattern, actions) in _entries)
        {
            if (actions.Contains(action) && pattern.Matches(repository))
            {
                return true;
            }
        }

        return false;
    }
}
