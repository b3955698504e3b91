using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// <c>storage.retention</c>: the rules of the retention pass and its bound (<see cref="RetentionSettings"/>), each member
/// of each rule checked, every bad one its own reason.
/// </summary>
public static partial class DesiredPropertiesParser
{
    /// <summary><c>keepPulledWithin</c>: at least a minute, at most ten years.</summary>
    public static readonly TimeSpan MinKeepPulledWithin = TimeSpan.FromMinutes(1);

    /// <summary><c>untaggedAfter</c>: at least an hour (a client pushes an index's manifests untagged before the index), at most ten years.</summary>
    public static readonly TimeSpan MinUntaggedAfter = TimeSpan.FromHours(1);

    public static readonly TimeSpan MaxRetentionDuration = TimeSpan.FromDays(3650);

    /// <summary>The rules of a retention rule's durations (<see cref="SettingRules.Duration"/>).</summary>
    public static readonly SettingRule<TimeSpan> KeepPulledWithinRule = SettingRules.Duration(MinKeepPulledWithin, MaxRetentionDuration, TimeSpan.FromDays(30));
    public static readonly SettingRule<TimeSpan> UntaggedAfterRule = SettingRules.Duration(MinUntaggedAfter, MaxRetentionDuration, TimeSpan.FromDays(7));

    private static readonly string[] RetentionRuleMembers = ["repositories", "keepNewest", "keepPulledWithin", "keepTags", "untaggedAfter"];

    /// <summary>
    /// <c>storage.retention</c>: the list of rules, or an object <c>{rules, maxRemovalsPerPass}</c> (the list alone keeps
    /// the default bound). An object with a rule's members is refused: a single rule written without its list would
    /// otherwise apply as no rules at all.
    /// </summary>
    private static RetentionSettings ParseRetention(JObject doc, List<string> errors, List<string> warnings)
    {
        if (doc["storage"] is not JObject storage || storage["retention"] is not { Type: not JTokenType.Null } retention)
        {
            return new RetentionSettings();
        }

        var (owner, member, path) = (storage, "retention", "storage.retention");
        var maxRemovals = RetentionSettings.DefaultMaxRemovalsPerPass;
        if (retention is JObject form)
        {
            if (RetentionRuleMembers.FirstOrDefault(form.ContainsKey) is { } ruleMember)
            {
                errors.Add($"storage.retention has the rule member '{ruleMember}': it is a list of rules, or an object {{rules, maxRemovalsPerPass}} whose rules are that list");
                return new RetentionSettings();
            }

            maxRemovals = Count(form, "maxRemovalsPerPass", "storage.retention.maxRemovalsPerPass", RetentionSettings.MaxMaxRemovalsPerPass, errors) ?? maxRemovals;
            (owner, member, path) = (form, "rules", "storage.retention.rules");
        }

        var rules = new List<RetentionRule>();
        if (BoundedArray(owner, member, path, RetentionSettings.MaxRules, "retention rules", errors) is { } array)
        {
            for (var i = 0; i < array.Count; i++)
            {
                if (RetentionRuleEntry(array[i], $"{path}[{i}]", errors, warnings) is { } rule)
                {
                    rules.Add(rule);
                }
            }
        }

        return new RetentionSettings { Rules = rules, MaxRemovalsPerPass = maxRemovals };
    }

    private static RetentionRule? RetentionRuleEntry(JToken token, string path, List<string> errors, List<string> warnings)
    {
        if (token is not JObject entry)
        {
            errors.Add($"{path} must be an object");
            return null;
        }

        CheckObject(entry, path, RetentionRuleMembers, [], errors, warnings);
        var before = errors.Count;
        var repositories = RepositoryPatterns(entry, path, errors);
        var keepNewest = Count(entry, "keepNewest", $"{path}.keepNewest", RetentionSettings.MaxKeepNewest, errors);
        var pulledWithin = Duration(entry, "keepPulledWithin", $"{path}.keepPulledWithin", KeepPulledWithinRule, errors);
        var untaggedAfter = Duration(entry, "untaggedAfter", $"{path}.untaggedAfter", UntaggedAfterRule, errors);
        string? keepTags = null;
        if (Str(entry, "keepTags", $"{path}.keepTags", errors) is { } pattern)
        {
            if (pattern.Length == 0)
            {
                errors.Add($"{path}.keepTags must not be empty (leave it out to keep no tag by name)");
            }
            else if (SyncFilter.TagPatternError(pattern) is { } reason)
            {
                errors.Add($"{path}.keepTags '{Shorten(pattern)}' {reason}");
            }
            else
            {
                keepTags = pattern;
            }
        }

        if (errors.Count != before)
        {
            return null;
        }

        var rule = new RetentionRule { Repositories = repositories, KeepNewest = keepNewest, KeepPulledWithin = pulledWithin, KeepTags = keepTags, UntaggedAfter = untaggedAfter };
        if (!rule.DecidesTags && rule.UntaggedAfter is null)
        {
            errors.Add($"{path} needs at least one of keepNewest, keepPulledWithin, keepTags or untaggedAfter (a rule with none would decide nothing)");
            return null;
        }

        return rule;
    }
}
