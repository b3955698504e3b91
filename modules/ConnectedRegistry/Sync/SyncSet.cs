using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The repositories this registry keeps in sync: its own <c>sync.repositories</c> ∪ every child's repositories,
/// as <see cref="RepositoryPattern"/>s (exact names, <c>prefix/*</c> at any depth, <c>*</c>). One definition for
/// sync down (which expands it through the parent's catalog), the change feed follower (which matches changed
/// repositories against it) and, next, on-demand fetch. The filters to come (platforms, tags) belong here.
/// </summary>
public sealed partial class SyncSet
{
    private SyncSet(IReadOnlyList<RepositoryPattern> patterns)
    {
        Patterns = patterns;
    }

    public IReadOnlyList<RepositoryPattern> Patterns { get; }

    /// <summary>The set of <paramref name="settings"/>; patterns that do not parse are left out.</summary>
    public static SyncSet Of(RegistrySettings settings) =>
        new([.. settings.Sync.Repositories
            .Concat(settings.Children.Values.SelectMany(c => c.Repositories))
            .Select(p => p.Trim())
            .Distinct(StringComparer.Ordinal)
            .Select(p => RepositoryPattern.TryParse(p, out var pattern) ? pattern : null)
            .OfType<RepositoryPattern>()]);

    /// <summary>True when <paramref name="repository"/> is in the set.</summary>
    public bool Contains(string repository) => Patterns.Any(p => p.Matches(repository));

    /// <summary>
    /// The set as repository names, in ordinal order: exact names as they are; <c>prefix/*</c> and <c>*</c> resolved
    /// against the parent's catalog when the parent allows listing it, else only the exact names.
    /// </summary>
    public async Task<IReadOnlyList<string>> ResolveAsync(IParentRegistry parent, ILogger logger, CancellationToken cancellationToken)
    {
        var result = new SortedSet<string>(Patterns.Where(IsExact).Select(p => p.Text), StringComparer.Ordinal);
        var wildcards = Patterns.Where(p => !IsExact(p)).ToList();
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

    private static bool IsExact(RepositoryPattern pattern) => !pattern.All && pattern.Prefix is null;

    private static partial class Log
    {
        [LoggerMessage(EventId = 4042, Level = LogLevel.Information, Message = "The parent does not allow listing its catalog ({Status}); wildcards in the subset are skipped, exact names are synced")]
        public static partial void CatalogUnavailable(ILogger logger, int status);
    }
}
