using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Storage;

/// <summary>
/// Decides what a retention pass removes, in memory, from what <c>registry.db</c> and the sync engine hold
/// (<see cref="RetentionInventory"/>) and the rules of <c>storage.retention</c> (<see cref="RetentionRules"/>, which
/// eviction of the on-demand cache asks too). The rules of the decision, in one place:
/// <list type="bullet">
/// <item>A repository no rule names keeps everything. Every rule whose repositories match applies (not only the first).</item>
/// <item>A tag goes only when at least one applicable rule decides tags (has <c>keepNewest</c>, <c>keepPulledWithin</c>
/// or <c>keepTags</c>) and no applicable rule keeps it: a rule keeps a tag that is among its <c>keepNewest</c> newest of
/// the repository (by the time the tag was pushed or synced here, then by name), whose manifest was pulled within its
/// <c>keepPulledWithin</c>, or that matches its <c>keepTags</c>. A rule without tag criteria keeps every tag.</item>
/// <item>Never removed, whatever the rules: a tag or manifest whose local push has not reached the parent
/// (<see cref="ISyncHolds.PendingPushes"/>), a referrers-schema tag (<c>sha256-…</c>) while a kept tag points at the
/// manifest it names. Synced tags are decided like any other (sync down is told, <see cref="ISyncHolds.Retiring"/>, and
/// does not copy them again while they point where they did).</item>
/// <item>A manifest left without a tag goes with its last tag, unless an index of the repository lists it or its subject
/// stays; then the children of a removed index and the referrers of a removed manifest go when nothing else keeps them.</item>
/// <item>Untagged manifests (no tag, in no index, subject gone or none) created and last pulled longer ago than the longest
/// <c>untaggedAfter</c> of the applicable rules go, with their children as above.</item>
/// <item>The plan lists them oldest first across all repositories (the time a tag was pushed or synced here, an untagged
/// manifest's creation), so a pass bounded by <c>maxRemovalsPerPass</c> takes the plan's first units.</item>
/// </list>
/// </summary>
public static class RetentionPlanner
{
    public static RetentionPlan Plan(RetentionInventory inventory, RegistrySettings settings, DateTimeOffset now)
    {
        var rules = RetentionRules.Of(settings);
        var plan = new RetentionPlan();
        if (rules.IsEmpty)
        {
            return plan;
        }

        // What the rules remove, from every repository: the tags no rule keeps, and the untagged manifests old enough.
        var nowMs = now.ToUnixTimeMilliseconds();
        var graph = new Graph(inventory);
        var candidates = new List<Candidate>();
        foreach (var repository in inventory.Repositories)
        {
            var applicable = rules.Covering(repository);
            if (applicable.Count == 0)
            {
                continue;
            }

            var tags = inventory.TagsOf(repository);
            foreach (var tag in RetiredTags(inventory, repository, tags, rules, nowMs))
            {
                candidates.Add(new Candidate(repository, tag.Tag, tag.Digest, tag.Updated));
            }

            if (applicable.Select(r => r.UntaggedAfter).Max() is { } untaggedAfter)
            {
                // Untagged now: removing tags never makes another manifest an untagged root that the walk from the
                // removed tag does not take (it takes what it leaves unused), so these are all there are.
                var cutoff = nowMs - (long)untaggedAfter.TotalMilliseconds;
                foreach (var manifest in inventory.ManifestsOf(repository))
                {
                    if (inventory.Created.TryGetValue((repository, manifest.Digest), out var created) && created < cutoff
                        && inventory.Pulls.GetValueOrDefault((repository, manifest.Digest), 0) < cutoff && graph.IsUntaggedRoot(repository, manifest))
                    {
                        candidates.Add(new Candidate(repository, null, manifest.Digest, created));
                    }
                }
            }
        }

        // In the order they go: oldest first across all repositories (push/sync time of a tag, creation of an untagged
        // manifest), then by repository and name. Each unit's manifests are those its removal leaves unused after the
        // units before it, so any first N units of the plan are exactly what a pass bounded to N removes.
        candidates.Sort(Candidate.Oldest);
        foreach (var candidate in candidates)
        {
            if (candidate.Tag is not null)
            {
                plan.Units.Add(new RetentionUnit(candidate.Repository, candidate.Tag, candidate.Digest, candidate.Time, graph.RemoveTag(candidate.Repository, candidate.Digest)));
            }
            else if (graph.TryRemove(candidate.Repository, candidate.Digest) is { Count: > 0 } removed)
            {
                plan.Units.Add(new RetentionUnit(candidate.Repository, null, candidate.Digest, candidate.Time, removed));
            }
        }

        return plan;
    }

    /// <summary>A tag (or, <see cref="Tag"/> null, an untagged manifest) the rules remove, before the order is known.</summary>
    private sealed record Candidate(string Repository, string? Tag, string Digest, long Time)
    {
        public static int Oldest(Candidate a, Candidate b)
        {
            var order = a.Time.CompareTo(b.Time);
            order = order != 0 ? order : string.CompareOrdinal(a.Repository, b.Repository);
            order = order != 0 ? order : string.CompareOrdinal(a.Tag, b.Tag);
            return order != 0 ? order : string.CompareOrdinal(a.Digest, b.Digest);
        }
    }

    private static List<RetentionTag> RetiredTags(RetentionInventory inventory, string repository, IReadOnlyList<RetentionTag> tags, RetentionRules rules, long nowMs)
    {
        if (tags.Count == 0 || rules.Ranker(repository, tags) is not { } ranker)
        {
            return [];
        }

        var kept = new List<RetentionTag>();
        var retired = new List<RetentionTag>();
        foreach (var tag in ranker.NewestFirst)
        {
            var keep = inventory.IsPendingTag(repository, tag.Tag)
                || inventory.IsPendingManifest(repository, tag.Digest)
                || ranker.Keeps(tag, inventory.Pulls.GetValueOrDefault((repository, tag.Digest), long.MinValue), nowMs);
            (keep ? kept : retired).Add(tag);
        }

        var keptDigests = kept.Select(t => t.Digest).ToHashSet(StringComparer.Ordinal);
        var tagged = tags.Select(t => t.Digest).ToHashSet(StringComparer.Ordinal);
        foreach (var tag in tags.Where(t => SyncFilter.IsReferrersTag(t.Tag)))
        {
            // sha256-<hex> names the manifest sha256:<hex>: it goes only with the last kept tag of that manifest.
            var named = RetentionRules.NamedByReferrersTag(tag.Tag);
            if (tagged.Contains(named) && !keptDigests.Contains(named) && !inventory.IsPendingTag(repository, tag.Tag))
            {
                retired.Add(tag);
            }
        }

        return retired;
    }

    /// <summary>
    /// What keeps each manifest, as the removals so far leave it: tags pointing at it, indexes listing it, its subject.
    /// Removing walks on to an index's children and a manifest's referrers, as garbage collection would.
    /// </summary>
    private sealed class Graph
    {
        private readonly RetentionInventory _inventory;
        private readonly Dictionary<(string, string), int> _tags = [];
        private readonly Dictionary<(string, string), int> _parents = [];
        private readonly HashSet<(string, string)> _removed = [];

        public Graph(RetentionInventory inventory)
        {
            _inventory = inventory;
            foreach (var tag in inventory.Tags)
            {
                _tags[(tag.Repository, tag.Digest)] = _tags.GetValueOrDefault((tag.Repository, tag.Digest)) + 1;
            }

            foreach (var (repository, _, child) in inventory.IndexChildren)
            {
                _parents[(repository, child)] = _parents.GetValueOrDefault((repository, child)) + 1;
            }
        }

        public bool IsUntaggedRoot(string repository, RetentionManifest manifest) =>
            !_removed.Contains((repository, manifest.Digest)) && Unused(repository, manifest.Digest);

        /// <summary>One tag of the manifest goes; the manifests that go with it (none while another tag keeps it).</summary>
        public List<string> RemoveTag(string repository, string digest)
        {
            _tags[(repository, digest)]--;
            return TryRemove(repository, digest);
        }

        public List<string> TryRemove(string repository, string digest)
        {
            var removed = new List<string>();
            var work = new Stack<string>();
            work.Push(digest);
            while (work.Count > 0)
            {
                var next = work.Pop();
                if (_removed.Contains((repository, next)) || !Unused(repository, next) || _inventory.IsPendingManifest(repository, next))
                {
                    continue;
                }

                _removed.Add((repository, next));
                removed.Add(next);
                foreach (var child in _inventory.ChildrenOf(repository, next))
                {
                    _parents[(repository, child)]--;
                    work.Push(child);
                }

                foreach (var referrer in _inventory.ReferrersOf(repository, next))
                {
                    work.Push(referrer);
                }
            }

            return removed;
        }

        private bool Unused(string repository, string digest) =>
            _inventory.Manifest(repository, digest) is { } manifest
            && _tags.GetValueOrDefault((repository, digest)) == 0
            && _parents.GetValueOrDefault((repository, digest)) == 0
            && (manifest.Subject is null || _removed.Contains((repository, manifest.Subject)) || _inventory.Manifest(repository, manifest.Subject) is null);
    }
}

public sealed record RetentionTag(string Repository, string Tag, string Digest, long Updated);

/// <summary>A manifest as a retention pass reads it: its key and its subject (its size and creation time are looked up where needed).</summary>
public sealed record RetentionManifest(string Repository, string Digest, string? Subject);

/// <summary>
/// One thing a pass removes: a tag (<see cref="Tag"/> set; <see cref="Time"/> its push/sync time, which the removal
/// checks again) or an untagged manifest (<see cref="Tag"/> null; <see cref="Time"/> its creation), with the manifests
/// that go with it, parents first.
/// </summary>
public sealed record RetentionUnit(string Repository, string? Tag, string Digest, long Time, IReadOnlyList<string> Manifests);

/// <summary>What the rules remove, in the order a pass removes it (oldest first across all repositories).</summary>
public sealed class RetentionPlan
{
    public List<RetentionUnit> Units { get; } = [];
}

/// <summary>What a pass decides from: the store's tags, manifests (keys and subjects), index children, last pulls and untagged manifests' creation times, and what sync holds.</summary>
public sealed class RetentionInventory
{
    private readonly Dictionary<string, List<RetentionTag>> _tagsByRepository = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<RetentionManifest>> _manifestsByRepository = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, string), RetentionManifest> _manifests = [];
    private readonly Dictionary<(string, string), List<string>> _children = [];
    private readonly Dictionary<(string, string), List<string>> _referrers = [];
    private readonly HashSet<(string, string)> _pendingTags;
    private readonly HashSet<(string, string)> _pendingManifests;

    public RetentionInventory(
        IReadOnlyList<RetentionTag> tags,
        IReadOnlyList<RetentionManifest> manifests,
        IReadOnlyList<(string Repository, string Index, string Child)> indexChildren,
        IReadOnlyDictionary<(string Repository, string Digest), long> pulls,
        PendingPushes pending,
        IReadOnlyDictionary<(string Repository, string Digest), long> created)
    {
        Tags = tags;
        Created = created;
        IndexChildren = indexChildren;
        Pulls = pulls;
        Pending = pending;
        _pendingTags = [.. pending.Tags];
        _pendingManifests = [.. pending.Manifests.Select(m => (m.Repository, m.Digest.ToString()))];
        foreach (var tag in tags)
        {
            Add(_tagsByRepository, tag.Repository, tag);
        }

        foreach (var manifest in manifests)
        {
            _manifests[(manifest.Repository, manifest.Digest)] = manifest;
            Add(_manifestsByRepository, manifest.Repository, manifest);
            if (manifest.Subject is not null)
            {
                Add(_referrers, (manifest.Repository, manifest.Subject), manifest.Digest);
            }
        }

        foreach (var (repository, index, child) in indexChildren)
        {
            Add(_children, (repository, index), child);
        }

        Repositories = [.. _manifestsByRepository.Keys.Order(StringComparer.Ordinal)];
    }

    public IReadOnlyList<string> Repositories { get; }

    public IReadOnlyList<RetentionTag> Tags { get; }

    public IReadOnlyList<(string Repository, string Index, string Child)> IndexChildren { get; }

    public IReadOnlyDictionary<(string Repository, string Digest), long> Pulls { get; }

    public PendingPushes Pending { get; }

    /// <summary>When each manifest no tag points at was created (Unix ms): read only when a rule has <c>untaggedAfter</c>; a manifest not in it is not removed as untagged.</summary>
    public IReadOnlyDictionary<(string Repository, string Digest), long> Created { get; }

    public IReadOnlyList<RetentionTag> TagsOf(string repository) => _tagsByRepository.GetValueOrDefault(repository) ?? [];

    public IReadOnlyList<RetentionManifest> ManifestsOf(string repository) => _manifestsByRepository.GetValueOrDefault(repository) ?? [];

    public RetentionManifest? Manifest(string repository, string digest) => _manifests.GetValueOrDefault((repository, digest));

    public IReadOnlyList<string> ChildrenOf(string repository, string index) => _children.GetValueOrDefault((repository, index)) ?? [];

    public IReadOnlyList<string> ReferrersOf(string repository, string subject) => _referrers.GetValueOrDefault((repository, subject)) ?? [];

    /// <summary>True when a push of the tag waits for delivery to the parent.</summary>
    public bool IsPendingTag(string repository, string tag) => _pendingTags.Contains((repository, tag));

    /// <summary>True when a push of the manifest (by tag or digest) waits for delivery to the parent.</summary>
    public bool IsPendingManifest(string repository, string digest) => _pendingManifests.Contains((repository, digest));

    private static void Add<TKey, TValue>(Dictionary<TKey, List<TValue>> map, TKey key, TValue value)
        where TKey : notnull
    {
        if (!map.TryGetValue(key, out var list))
        {
            map[key] = list = [];
        }

        list.Add(value);
    }
}
