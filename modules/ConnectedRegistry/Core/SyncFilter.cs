using System.Text.RegularExpressions;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Core;

/// <summary>
/// One registry's sync filter, compiled: its repositories (<c>sync.repositories</c>, or a child's), its tag filters
/// (<c>sync.filters</c>: the first entry whose repository patterns match applies; <c>includeTags</c> must match,
/// <c>excludeTags</c> must not, and of what remains <c>newest</c> keeps only that many, newest first by
/// <see cref="TagVersion.NewestFirst"/>) and its platforms (the entry's <c>platforms</c>, else <c>sync.platforms</c>; none:
/// every platform). The one place of these rules: the twin parser validates through it (<see cref="TagPatternError"/>,
/// <see cref="PlatformError"/>), sync down and on-demand fetch select through it (by way of the sync set, which
/// unites a registry's own filter with its children's). Regular expressions run with a time limit
/// (<see cref="MatchTimeout"/>): a tag whose match runs out of time is not selected. Local pushes are never filtered.
/// </summary>
public sealed partial class SyncFilter
{
    /// <summary>How long one tag may take to match an <c>includeTags</c> or <c>excludeTags</c> expression.</summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(100);

    public const int MaxFilters = 100;
    public const int MaxPlatforms = 20;
    public const int MaxTagPatternLength = 1000;
    public const int MaxNewest = 10000;

    private readonly RepositoryPattern[] _repositories;
    private readonly Entry[] _entries;
    private readonly PlatformFilter _platforms;

    private SyncFilter(IEnumerable<string> repositories, IReadOnlyList<string> platforms, IReadOnlyList<SyncFilterSettings> filters)
    {
        _repositories = [.. repositories.Select(r => RepositoryPattern.TryParse(r.Trim(), out var p) ? p : null).OfType<RepositoryPattern>()];
        _platforms = PlatformFilter.Of(platforms);
        _entries = [.. filters.Select(f => new Entry(
            [.. f.Repositories.Select(r => RepositoryPattern.TryParse(r, out var p) ? p : null).OfType<RepositoryPattern>()],
            Compile(f.IncludeTags),
            Compile(f.ExcludeTags),
            f.Platforms is null ? _platforms : PlatformFilter.Of(f.Platforms),
            f.Newest))];
    }

    /// <summary>This registry's own filter.</summary>
    public static SyncFilter Own(SyncSettings sync) => new(sync.Repositories, sync.Platforms, sync.Filters);

    /// <summary>A child's filter, as the parent's twin holds it (a child that names no platforms or filters: everything).</summary>
    public static SyncFilter Child(ChildRegistrySettings child) => new(child.Repositories, child.Platforms, child.Filters);

    /// <summary>True when <paramref name="repository"/> is one this filter's registry syncs.</summary>
    public bool Covers(string repository) => _repositories.Any(p => p.Matches(repository));

    /// <summary>
    /// Whether this registry syncs <paramref name="repository"/>:<paramref name="tag"/>, and for which platforms.
    /// A tag of the referrers tag schema (<c>sha256-…</c>, signatures kept for a parent without the referrers API)
    /// is selected whatever the tag filters say.
    /// </summary>
    /// <remarks>
    /// One tag alone: <c>newest</c> is not applied (it needs the repository's whole tag list, <see cref="SelectTags"/>).
    /// </remarks>
    public TagSelection Select(string repository, string tag) => Select(repository, EntryFor(repository), tag);

    /// <summary>
    /// <see cref="Select(string, string)"/> for every tag of <paramref name="tags"/> (the parent's tag list, in its
    /// order), with the entry's <c>newest</c> applied: of the tags its expressions select, those beyond the newest N
    /// are <see cref="TagMatch.NotNewest"/>. Referrers tag schema tags are selected and not counted.
    /// </summary>
    public Dictionary<string, TagSelection> SelectTags(string repository, IReadOnlyList<string> tags)
    {
        var entry = EntryFor(repository);
        var result = new Dictionary<string, TagSelection>(tags.Count, StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            result[tag] = Select(repository, entry, tag);
        }

        if (entry?.Newest is { } newest)
        {
            var counted = tags.Where(t => result[t].IsSelected && !IsReferrersTag(t));
            foreach (var tag in TagVersion.NewestFirst(counted).Skip(newest))
            {
                result[tag] = TagSelection.NotNewest;
            }
        }

        return result;
    }

    private Entry? EntryFor(string repository) =>
        Covers(repository) ? _entries.FirstOrDefault(e => e.Repositories.Any(p => p.Matches(repository))) : null;

    private TagSelection Select(string repository, Entry? entry, string tag)
    {
        if (!Covers(repository))
        {
            return TagSelection.NotSelected;
        }

        if (entry is null || IsReferrersTag(tag))
        {
            return TagSelection.Of(entry?.Platforms ?? _platforms);
        }

        try
        {
            var included = entry.Include is null || entry.Include.IsMatch(tag);
            return included && (entry.Exclude is null || !entry.Exclude.IsMatch(tag)) ? TagSelection.Of(entry.Platforms) : TagSelection.NotSelected;
        }
        catch (RegexMatchTimeoutException)
        {
            return TagSelection.TimedOut;
        }
    }

    /// <summary>What a registry syncs of a tag when it syncs for every filter of <paramref name="filters"/>: selected when one of them selects it, for the union of their platforms.</summary>
    public static TagSelection Union(IEnumerable<SyncFilter> filters, string repository, string tag)
    {
        var platforms = new List<PlatformFilter>();
        var timedOut = false;
        foreach (var filter in filters)
        {
            var selection = filter.Select(repository, tag);
            timedOut |= selection.Match == TagMatch.TimedOut;
            if (selection.IsSelected)
            {
                platforms.Add(selection.Platforms);
            }
        }

        return platforms.Count > 0 ? TagSelection.Of(PlatformFilter.Union(platforms)) : timedOut ? TagSelection.TimedOut : TagSelection.NotSelected;
    }

    /// <summary>
    /// <see cref="Union(IEnumerable{SyncFilter}, string, string)"/> over a repository's whole tag list, <c>newest</c>
    /// applied per filter: a tag is kept when one filter keeps it, so for the same expressions the largest count wins
    /// (newest 10 and newest 3: the newest 10) and a filter without a count keeps every tag it selects. A tag that no
    /// filter keeps and one filter counted out is <see cref="TagMatch.NotNewest"/> (sync removes it here).
    /// </summary>
    public static Dictionary<string, TagSelection> UnionTags(IEnumerable<SyncFilter> filters, string repository, IReadOnlyList<string> tags)
    {
        var each = filters.Select(f => f.SelectTags(repository, tags)).ToList();
        var result = new Dictionary<string, TagSelection>(tags.Count, StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            var selections = each.Select(s => s[tag]).ToList();
            var kept = selections.Where(s => s.IsSelected).Select(s => s.Platforms).ToList();
            result[tag] = kept.Count > 0 ? TagSelection.Of(PlatformFilter.Union(kept))
                : selections.Any(s => s.Match == TagMatch.NotNewest) ? TagSelection.NotNewest
                : selections.Any(s => s.Match == TagMatch.TimedOut) ? TagSelection.TimedOut
                : TagSelection.NotSelected;
        }

        return result;
    }

    /// <summary>Why <paramref name="pattern"/> is no valid <c>includeTags</c>/<c>excludeTags</c> expression; null when it is one.</summary>
    public static string? TagPatternError(string pattern)
    {
        if (pattern.Length > MaxTagPatternLength)
        {
            return $"is longer than {MaxTagPatternLength} characters";
        }

        try
        {
            _ = new Regex(pattern, Options, MatchTimeout);
            return null;
        }
        catch (ArgumentException ex)
        {
            return "is not a valid regular expression: " + ex.Message;
        }
    }

    /// <summary>Why <paramref name="text"/> is no valid platform; null when it is one.</summary>
    public static string? PlatformError(string text) =>
        Platform.TryParse(text, out _) ? null : "is not a platform 'os/architecture[/variant]' (lower case, e.g. 'linux/arm64' or 'linux/arm/v7')";

    /// <summary>True for a tag of the referrers tag schema (<c>sha256-</c> and 64 hex digits).</summary>
    public static bool IsReferrersTag(string tag) => ReferrersTag().IsMatch(tag);

    private const RegexOptions Options = RegexOptions.CultureInvariant;

    private static Regex? Compile(string? pattern)
    {
        if (string.IsNullOrEmpty(pattern))
        {
            return null;
        }

        try
        {
            return new Regex(pattern, Options, MatchTimeout);
        }
        catch (ArgumentException)
        {
            return new Regex("(?!)", Options, MatchTimeout); // the parser rejects it first; should one slip through, it selects nothing
        }
    }

    [GeneratedRegex("^sha256-[a-f0-9]{64}$", RegexOptions.CultureInvariant)]
    private static partial Regex ReferrersTag();

    private sealed record Entry(RepositoryPattern[] Repositories, Regex? Include, Regex? Exclude, PlatformFilter Platforms, int? Newest);
}

public enum TagMatch
{
    Selected,
    NotSelected,

    /// <summary>A tag filter's expression ran out of time on this tag: it is not synced (and a warning is logged).</summary>
    TimedOut,

    /// <summary>Selected by the expressions but older than the entry's <c>newest</c> N: not synced, and a synced copy is removed here.</summary>
    NotNewest,
}

/// <summary>Whether a tag is synced, and for which platforms of an index.</summary>
public readonly record struct TagSelection(TagMatch Match, PlatformFilter Platforms)
{
    public static TagSelection NotSelected => new(TagMatch.NotSelected, PlatformFilter.All);

    public static TagSelection TimedOut => new(TagMatch.TimedOut, PlatformFilter.All);

    public static TagSelection NotNewest => new(TagMatch.NotNewest, PlatformFilter.All);

    public bool IsSelected => Match == TagMatch.Selected;

    public static TagSelection Of(PlatformFilter platforms) => new(TagMatch.Selected, platforms);
}
