using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Bundles;

/// <summary>
/// What export puts in a bundle: the one place that picks repositories, tags and the child manifests of an index.
/// Repositories are the site's sync set (or <c>--repository</c> patterns), resolved as sync down resolves them
/// (<see cref="SyncSet"/>); every tag and every platform for now: the sync set's tag and platform filters apply here.
/// </summary>
public sealed class BundleSelection
{
    private readonly SyncSet _set;

    private BundleSelection(SyncSet set)
    {
        _set = set;
    }

    public IReadOnlyList<string> Patterns => [.. _set.Patterns.Select(p => p.Text)];

    /// <summary>The selection of repository patterns (names, <c>prefix/*</c>); patterns that do not parse are refused.</summary>
    public static BundleSelection Of(IReadOnlyList<string> patterns)
    {
        var bad = patterns.Where(p => !RepositoryPattern.TryParse(p.Trim(), out _)).ToList();
        if (bad.Count > 0)
        {
            throw new BundleRefusedException($"not a repository name or pattern: {string.Join(", ", bad)}");
        }

        return new BundleSelection(SyncSet.Of(new RegistrySettings { Sync = new SyncSettings { Repositories = patterns } }));
    }

    public Task<IReadOnlyList<string>> RepositoriesAsync(IParentRegistry parent, ILogger logger, CancellationToken cancellationToken) =>
        _set.ResolveAsync(parent, logger, cancellationToken);

    /// <summary>Whether a tag of <paramref name="repository"/> goes into the bundle: the sync set's own rule (<see cref="SyncSet.SelectTag"/>).</summary>
    public bool IncludesTag(string repository, string tag) => Tag.IsValid(tag) && _set.SelectTag(repository, tag).IsSelected;

    /// <summary>Whether a child manifest of an index (a platform) goes into the bundle.</summary>
    public static bool IncludesChild(Descriptor child) => child is not null;
}
