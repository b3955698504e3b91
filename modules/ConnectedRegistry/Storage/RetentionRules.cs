using System.Text.RegularExpressions;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Storage;

/// <summary>
/// The rules of <c>storage.retention</c>, compiled once, and the one place that says whether a rule keeps a tag: among
/// its <c>keepNewest</c> newest of the repository (by the time the tag was pushed or synced here, then by name, the
/// larger first; referrers-schema tags not counted), its manifest pulled within its <c>keepPulledWithin</c>, or matching
/// its <c>keepTags</c>. <see cref="RetentionPlanner"/> decides a retention pass with it, and the eviction of the
/// on-demand cache (<c>Sync/OnDemandEviction</c>) asks <see cref="KeepsAny"/>, so that what a rule keeps is neither
/// retired nor evicted.
/// </summary>
public sealed class RetentionRules
{
    private readonly List<Rule> _rules;

    private RetentionRules(List<Rule> rules) => _rules = rules;

    /// <summary>True when there are no rules: a retention pass removes nothing and no tag is kept by a rule.</summary>
    public bool IsEmpty => _rules.Count == 0;

    public static RetentionRules Of(RegistrySettings settings) => new([.. settings.Storage.Retention.Rules.Select(r => new Rule(r))]);

    /// <summary>The manifest digest a referrers-schema tag (<c>sha256-&lt;hex&gt;</c>) names.</summary>
    public static string NamedByReferrersTag(string tag) => "sha256:" + tag["sha256-".Length..];

    /// <summary>The rules whose repositories match <paramref name="repository"/> (none: the repository keeps everything).</summary>
    internal IReadOnlyList<RetentionRule> Covering(string repository) => [.. _rules.Where(r => r.Covers(repository)).Select(r => r.Settings)];

    /// <summary>
    /// The rules that decide the tags of <paramref name="repository"/> (those that apply and have a tag criterion), with
    /// <paramref name="tags"/> (all of the repository's) ranked; null when no such rule applies.
    /// </summary>
    internal Ranked? Ranker(string repository, IReadOnlyList<RetentionTag> tags)
    {
        var deciding = _rules.Where(r => r.Settings.DecidesTags && r.Covers(repository)).ToList();
        return deciding.Count == 0 ? null : new Ranked(deciding, tags);
    }

    /// <summary>
    /// True when a rule keeps one of <paramref name="tags"/> of a manifest <paramref name="digest"/> of <paramref name="repository"/>,
    /// ranked among <paramref name="repositoryTags"/> (every tag of the repository), with <paramref name="lastPulled"/> the
    /// last pull (Unix ms) of a manifest by digest. A referrers-schema tag is kept while a rule keeps a tag of the manifest
    /// it names, as a retention pass keeps it. False when no rule with a tag criterion applies: a rule with only
    /// <c>untaggedAfter</c> keeps no tag from eviction.
    /// </summary>
    public bool KeepsAny(string repository, string digest, IReadOnlyCollection<string> tags, IReadOnlyList<RetentionTag> repositoryTags, Func<string, long> lastPulled, long nowMs)
    {
        if (tags.Count == 0 || Ranker(repository, repositoryTags) is not { } ranker)
        {
            return false;
        }

        foreach (var tag in tags)
        {
            if (SyncFilter.IsReferrersTag(tag))
            {
                var named = NamedByReferrersTag(tag);
                if (ranker.NewestFirst.Any(t => t.Digest == named && ranker.Keeps(t, lastPulled(named), nowMs)))
                {
                    return true;
                }
            }
            else if (ranker.Rank(tag) is { } rank && ranker.Keeps(rank, tag, lastPulled(digest), nowMs))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The deciding rules of one repository with its tags ranked newest first.</summary>
    internal sealed class Ranked
    {
        private readonly List<Rule> _deciding;
        private readonly Dictionary<string, int> _rank;

        public Ranked(List<Rule> deciding, IReadOnlyList<RetentionTag> tags)
        {
            _deciding = deciding;
            NewestFirst = [.. tags.Where(t => !SyncFilter.IsReferrersTag(t.Tag)).OrderByDescending(t => t.Updated).ThenByDescending(t => t.Tag, StringComparer.Ordinal)];
            _rank = new Dictionary<string, int>(NewestFirst.Count, StringComparer.Ordinal);
            for (var i = 0; i < NewestFirst.Count; i++)
            {
                _rank[NewestFirst[i].Tag] = i;
            }
        }

        /// <summary>The repository's tags, referrers-schema tags left out, newest first (push/sync time, then name, the larger first).</summary>
        public List<RetentionTag> NewestFirst { get; }

        public int? Rank(string tag) => _rank.TryGetValue(tag, out var rank) ? rank : null;

        /// <summary>True when a deciding rule keeps the tag (one of the repository's, <see cref="NewestFirst"/>) whose manifest was last pulled at <paramref name="lastPulled"/>.</summary>
        public bool Keeps(RetentionTag tag, long lastPulled, long nowMs) => Keeps(_rank[tag.Tag], tag.Tag, lastPulled, nowMs);

        public bool Keeps(int rank, string tag, long lastPulled, long nowMs) => _deciding.Any(r => r.Keeps(tag, rank, lastPulled, nowMs));
    }

    /// <summary>A rule with its patterns and expression compiled.</summary>
    internal sealed class Rule
    {
        private readonly RepositoryPattern[] _patterns;
        private readonly Regex? _keepTags;

        public Rule(RetentionRule rule)
        {
            Settings = rule;
            _patterns = [.. rule.Repositories.Select(p => RepositoryPattern.TryParse(p.Trim(), out var pattern) ? pattern : null).OfType<RepositoryPattern>()];
            _keepTags = rule.KeepTags is null ? null : new Regex(rule.KeepTags, RegexOptions.CultureInvariant, SyncFilter.MatchTimeout);
        }

        public RetentionRule Settings { get; }

        public bool Covers(string repository) => _patterns.Any(p => p.Matches(repository));

        public bool Keeps(string tag, int rank, long lastPulled, long nowMs)
        {
            if (Settings.KeepNewest is { } newest && rank < newest)
            {
                return true;
            }

            if (Settings.KeepPulledWithin is { } within && lastPulled >= nowMs - (long)within.TotalMilliseconds)
            {
                return true;
            }

            try
            {
                return _keepTags?.IsMatch(tag) == true;
            }
            catch (RegexMatchTimeoutException)
            {
                return true; // a tag the expression cannot judge in time is kept, never removed on a guess
            }
        }
    }
}
