namespace ConnectedRegistry.Core;

/// <summary>
/// The twin's <c>notifications</c> list, as ACR's connected registry had it: which client pushes and deletes become
/// <c>events</c> messages. A pattern is <c>repository:tag:action</c>, <c>repository@digest:action</c> or
/// <c>repository:action</c> (any tag or digest); <c>*</c> matches any run of characters (slashes included) in the
/// repository, tag and digest parts; the action is <c>push</c>, <c>delete</c> or <c>*</c>. An empty list selects
/// nothing; <c>*:*</c> selects every artifact event. Operational events are never filtered.
/// </summary>
public sealed class NotificationFilter
{
    public const int MaxPatterns = 100;
    public const string Push = "push";
    public const string Delete = "delete";

    private readonly Pattern[] _patterns;

    private NotificationFilter(Pattern[] patterns) => _patterns = patterns;

    public static NotificationFilter None { get; } = new([]);

    /// <summary>Builds the filter from patterns that passed <see cref="Validate"/> (others are skipped).</summary>
    public static NotificationFilter From(IEnumerable<string> patterns) =>
        new([.. patterns.Select(p => TryParse(p, out var parsed, out _) ? parsed : null).OfType<Pattern>()]);

    /// <summary>Null when <paramref name="text"/> is a valid pattern, else why not (for the twin's rejection message).</summary>
    public static string? Validate(string text) => TryParse(text, out _, out var reason) ? null : reason;

    public bool IsEmpty => _patterns.Length == 0;

    /// <summary>Whether a client <paramref name="action"/> (<see cref="Push"/> or <see cref="Delete"/>) on the artifact is selected.</summary>
    public bool Matches(string repository, string? tag, string? digest, string action)
    {
        foreach (var pattern in _patterns)
        {
            if (pattern.Action != "*" && pattern.Action != action)
            {
                continue;
            }

            if (!Wildcard.IsMatch(pattern.Repository, repository))
            {
                continue;
            }

            var selected = pattern switch
            {
                { Tag: null, Digest: null } => true,
                { Tag: "*" } => true,
                { Tag: { } t } => tag is not null && Wildcard.IsMatch(t, tag),
                { Digest: { } d } => digest is not null && Wildcard.IsMatch(d, digest),
            };
            if (selected)
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryParse(string text, out Pattern? pattern, out string reason)
    {
        pattern = null;
        reason = string.Empty;
        if (text.Length is 0 or > 512)
        {
            reason = "must be 1 to 512 characters";
            return false;
        }

        var lastColon = text.LastIndexOf(':');
        if (lastColon <= 0)
        {
            reason = "must be 'repository[:tag]:action' or 'repository@digest:action'";
            return false;
        }

        var action = text[(lastColon + 1)..];
        if (action is not (Push or Delete or "*"))
        {
            reason = "must end with the action push, delete or *";
            return false;
        }

        if (SubjectError(text[..lastColon], out var repository, out var tag, out var digest) is { } bad)
        {
            reason = bad;
            return false;
        }

        pattern = new Pattern(repository, tag, digest, action);
        return true;
    }

    /// <summary>
    /// The pattern's <c>repository[:tag]</c> or <c>repository@digest</c> (before the action), its parts read out; the
    /// reason it is not one, else null.
    /// </summary>
    private static string? SubjectError(string subject, out string repository, out string? tag, out string? digest)
    {
        tag = null;
        digest = null;
        var at = subject.IndexOf('@', StringComparison.Ordinal);
        var colon = subject.IndexOf(':', StringComparison.Ordinal);
        if (at >= 0)
        {
            repository = subject[..at];
            digest = subject[(at + 1)..];
            if (digest.Length == 0 || !digest.All(c => char.IsAsciiLetterOrDigit(c) || c is ':' or '*' or '+' or '.' or '_' or '-' or '='))
            {
                return "has a digest part that is not a digest (algorithm:hex, * allowed)";
            }
        }
        else if (colon >= 0)
        {
            repository = subject[..colon];
            tag = subject[(colon + 1)..];
            if (tag.Length is 0 or > 128 || !tag.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-' or '*'))
            {
                return "has a tag part that is not a tag (letters, digits, '_', '.', '-', * allowed; at most 128)";
            }
        }
        else
        {
            repository = subject;
        }

        return repository.Length == 0 || !repository.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '/' or '.' or '_' or '-' or '*')
            ? "has a repository part that is not a repository name (lower-case letters, digits, '/', '.', '_', '-', * allowed)"
            : null;
    }

    private sealed record Pattern(string Repository, string? Tag, string? Digest, string Action);
}

/// <summary><c>*</c> matches any run of characters (none included); every other character matches itself, case-sensitively.</summary>
public static class Wildcard
{
    public static bool IsMatch(string pattern, string value)
    {
        int p = 0, v = 0, star = -1, resume = 0;
        while (v < value.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                resume = v;
            }
            else if (p < pattern.Length && pattern[p] == value[v])
            {
                p++;
                v++;
            }
            else if (star >= 0)
            {
                p = star + 1;
                v = ++resume;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
