using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The repositories this registry keeps in sync: its own <c>sync.repositories</c> ∪ every child's repositories,
/// as <see cref="RepositoryPattern"/>s (exact names, <c>prefix/*</c> at any depth, <c>*</c>). One definition for
/// sync down (which expands it through the parent's catalog), the change feed follower (which matches changed
/// repositories against it) and on-demand fetch. With the repositories come the tag and platform filters
/// (<see cref="SyncFilter"/>): a tag is synced when this registry's own filter or a child's selects it, for the union of
/// the platforms they select (<see cref="SelectTag"/>), so a layer never starves the one below.
/// </summary>
public sealed partial class SyncSet
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<RegistrySettings, SyncSet> Compiled = [];
    private readonly SyncFilter[] _filters;

    private SyncSet(IReadOnlyList<RepositoryPattern> patterns, SyncFilter[] filters)
    {
        Patterns = patterns;
        _filters = filters;
    }

    public IReadOnlyList<RepositoryPattern> Patterns { get; }

    /// <summary>The set of <paramref name="settings"/> (compiled once per settings); patterns that do not parse are left out.</summary>
    public static SyncSet Of(RegistrySettings settings) => Compiled.GetValue(settings, Compile);

    /// <summary>
    /// Whether sync down brings <paramref name="repository"/>:<paramref name="tag"/>, and which entries of an index
    /// it keeps (<see cref="TagSelection.Platforms"/>, <see cref="PlatformFilter.Select"/>): the entry point for
    /// anything that moves tags the way sync does.
    /// </summary>
    public TagSelection SelectTag(string repository, string tag) => SyncFilter.Union(_filters, repository, tag);

    /// <summary>
    /// <see cref="SelectTag"/> for a repository's whole tag list at the parent (in the parent's order), with each
    /// filter's <c>newest</c> count applied (<see cref="SyncFilter.UnionTags"/>): what a sync pass uses.
    /// </summary>
    public Dictionary<string, TagSelection> SelectTags(string repository, IReadOnlyList<string> tags) => SyncFilter.UnionTags(_filters, repository, tags);

    /// <summary>
    /// The settings of a pass over just <paramref name="repositories"/> (the change feed's targeted pass): each
    /// repository list cut down to those names, so the pass syncs nothing else, while every filter — this registry's
    /// and each child's that still covers one of them — applies as in a full pass.
    /// </summary>
    public static RegistrySettings Targeted(RegistrySettings settings, IReadOnlyList<string> repositories)
    {
        List<string> Covered(IEnumerable<string> patterns)
        {
            var parsed = patterns.Select(p => RepositoryPattern.TryParse(p.Trim(), out var pattern) ? pattern : null).OfType<RepositoryPattern>().ToList();
            return [.. repositories.Where(r => parsed.Any(p => p.Matches(r)))];
        }

        var children = settings.Children
            .Select(c => (c.Key, Child: c.Value with { Repositories = Covered(c.Value.Repositories) }))
            .Where(c => c.Child.Repositories.Count > 0)
            .ToDictionary(c => c.Key, c => c.Child, StringComparer.Ordinal);
        return settings with { Sync = settings.Sync with { Repositories = Covered(settings.Sync.Repositories) }, Children = children };
    }

    private static SyncSet Compile(RegistrySettings settings) =>
        new(
            [.. settings.Sync.Repositories
                .Concat(settings.Children.Values.SelectMany(c => c.Repositories))
                .Select(p => p.Trim())
                .Distinct(StringComparer.Ordinal)
                .Select(p => RepositoryPattern.TryParse(p, out var pattern) ? pattern : null)
                .OfType<RepositoryPattern>()],
            [SyncFilter.Own(settings.Sync), .. settings.Children.Values.Select(SyncFilter.Child)]);

    /// <summary>True when <paramref name="repository"/> is in the set.</summary>
    public bool Contains(string repository) => Patterns.Any(p => p.Matches(repository));

    /// <summary>
    /// The set as repository names, in ordinal order: exact names as they are; <c>prefix/*</c> and <c>*</c> resolved
    /// against the parent's catalog when the parent allows listing it, else only the exact names.
    /// </summary>
    public async Task<IReadOnlyList<string>> ResolveAsync(IParentRegistry parent, ILogger logger, CancellationToken cancellationToken)
    {
        var result = new SortedSet<string>(Patterns.Where(p => !p.IsWildcard).Select(p => p.Text), StringComparer.Ordinal);
        var wildcards = Patterns.Where(p => p.IsWildcard).ToList();
        if (wildcards.Count == 0)
        {
            return [.. result];
        }

        try
        {
            foreach (var name in await parent.CatalogAsync(cancellationToken))
            {
                if (RepositoryName.IsValid(name) && wildcards.Any(p => p.Matches(name)))
                {
                    result.Add(name);
                }
            }
        }
        catch (ParentRegistryException ex) when ((int)ex.Status is >= 400 and < 500)
        {
            Log.CatalogUnavailable(logger, (int)ex.Status);
        }

        return [.. result];
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4042, Level = LogLevel.Information, Message = "The parent does not allow listing its catalog ({Status}); wildcards in the subset are skipped, exact names are synced")]
        public static partial void CatalogUnavailable(ILogger logger, int status);
    }
}
