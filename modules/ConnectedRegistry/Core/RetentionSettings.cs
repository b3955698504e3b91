namespace ConnectedRegistry.Core;

/// <summary>
/// <c>storage.retention</c>: the rules deciding which tags (and untagged manifests) a retention pass removes from this
/// registry. A repository no rule names keeps everything. Every rule whose <see cref="RetentionRule.Repositories"/>
/// match a repository applies to it (not only the first), and a tag is kept when any of them keeps it.
/// </summary>
public sealed record RetentionSettings
{
    public const int MaxRules = 100;
    public const int MaxKeepNewest = 100_000;
    public const int MaxKeepTagsLength = 1000;

    /// <summary>
    /// <c>maxRemovalsPerPass</c> by default: a pass over 100,000 tags that removes this many stays within 2 s of CPU on the
    /// 2-core test machine (a pass removing 90,000 at once took 5 s), and the next pass takes the rest soon after.
    /// </summary>
    public const int DefaultMaxRemovalsPerPass = 10_000;

    public const int MaxMaxRemovalsPerPass = 1_000_000;

    /// <summary>The rules in twin order (order does not change the outcome).</summary>
    public IReadOnlyList<RetentionRule> Rules { get; init; } = [];

    /// <summary>
    /// At most this many removals (tags and untagged manifests) per pass, oldest first across all repositories; what the
    /// rules remove beyond it is left to the passes that follow (<c>RetentionScheduler</c> runs them soon after).
    /// </summary>
    public int MaxRemovalsPerPass { get; init; } = DefaultMaxRemovalsPerPass;
}

/// <summary>
/// One retention rule. A rule with at least one tag criterion (<see cref="KeepNewest"/>, <see cref="KeepPulledWithin"/>,
/// <see cref="KeepTags"/>) keeps a tag of its repositories that meets any of them and lets the others go; a rule with
/// none of them keeps every tag (it only names <see cref="UntaggedAfter"/>).
/// </summary>
public sealed record RetentionRule
{
    /// <summary>Repository patterns (exact name, <c>prefix/*</c> or <c>*</c>) the rule applies to.</summary>
    public IReadOnlyList<string> Repositories { get; init; } = [];

    /// <summary>Keep this many tags per repository, newest first by the time they were pushed or synced here; null: no such criterion.</summary>
    public int? KeepNewest { get; init; }

    /// <summary>Keep a tag whose manifest was pulled within this time; null: no such criterion.</summary>
    public TimeSpan? KeepPulledWithin { get; init; }

    /// <summary>Keep a tag that matches this .NET regular expression; null: no such criterion.</summary>
    public string? KeepTags { get; init; }

    /// <summary>Remove an untagged manifest created (and last pulled) longer ago than this; null: untagged manifests stay.</summary>
    public TimeSpan? UntaggedAfter { get; init; }

    /// <summary>True when the rule says which tags to keep (else it keeps every tag).</summary>
    public bool DecidesTags => KeepNewest is not null || KeepPulledWithin is not null || KeepTags is not null;
}
