using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Bundles;

/// <summary>
/// What export puts in a bundle: the one place that picks repositories, tags and the child manifests of an index.
/// Repositories are the site's sync set (or <c>--repository</c> patterns), resolved as sync down resolves them
/// (<see cref="SyncSet"/>). Tags and the platforms of an index follow the site's filters when its state records them
/// (<see cref="BundleFilters"/>, rebuilt into the same <see cref="SyncSet"/> the site syncs with); else every tag and platform.
/// </summary>
public sealed class BundleSelection
{
    private readonly SyncSet _set;
    private readonly SyncSet? _filters;

    private BundleSelection(SyncSet set, SyncSet? filters)
    {
        _set = set;
        _filters = filters;
    }

    public IReadOnlyList<string> Patterns => [.. _set.Patterns.Select(p => p.Text)];

    /// <summary>The selection of repository patterns (names, <c>prefix/*</c>); patterns that do not parse are refused.</summary>
    public static BundleSelection Of(IReadOnlyList<string> patterns, BundleFilters? filters = null)
    {
        var bad = patterns.Where(p => !RepositoryPattern.TryParse(p.Trim(), out _)).ToList();
        if (bad.Count > 0)
        {
            throw new BundleRefusedException($"not a repository name or pattern: {string.Join(", ", bad)}");
        }

        return new BundleSelection(SyncSet.Of(new RegistrySettings { Sync = new SyncSettings { Repositories = patterns } }),
            filters is null ? null : SyncSet.Of(filters.ToSettings()));
    }

    public Task<IReadOnlyList<string>> RepositoriesAsync(IParentRegistry parent, ILogger logger, CancellationToken cancellationToken) =>
        _set.ResolveAsync(parent, logger, cancellationToken);

    /// <summary>
    /// Whether a tag of <paramref name="repository"/> goes into the bundle, and which children of an index with it
    /// (<see cref="TagSelection.Platforms"/>): the sync set's own rule (<see cref="SyncSet.SelectTag"/>), under the site's
    /// filters for a repository they cover.
    /// </summary>
    public TagSelection SelectTag(string repository, string tag)
    {
        if (!Tag.IsValid(tag) || !_set.SelectTag(repository, tag).IsSelected)
        {
            return TagSelection.NotSelected;
        }

        return _filters is not null && _filters.Contains(repository) ? _filters.SelectTag(repository, tag) : TagSelection.Of(PlatformFilter.All);
    }
}
