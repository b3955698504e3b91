using System.Diagnostics.CodeAnalysis;

namespace ConnectedRegistry.Oci;

/// <summary>
/// The one grammar of repository patterns, used by scope maps (auth), the twin's repository lists and sync:
/// <c>*</c> (every repository), <c>prefix/*</c> (every repository under <c>prefix/</c>, at any depth, but not
/// <c>prefix</c> itself), or an exact repository name. Nothing else parses <c>prefix/*</c>.
/// </summary>
public sealed record RepositoryPattern
{
    private RepositoryPattern(string text, string? prefix, bool all)
    {
        Text = text;
        Prefix = prefix;
        All = all;
    }

    public string Text { get; }

    /// <summary>For <c>prefix/*</c>: <c>prefix/</c>. Null for exact names and <c>*</c>.</summary>
    public string? Prefix { get; }

    /// <summary>True for <c>*</c>.</summary>
    public bool All { get; }

    /// <summary>True for <c>*</c> and <c>prefix/*</c>: the pattern names a set of repositories, not one.</summary>
    public bool IsWildcard => All || Prefix is not null;

    public static bool TryParse(string? text, [NotNullWhen(true)] out RepositoryPattern? pattern)
    {
        pattern = null;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        if (text == "*")
        {
            pattern = new RepositoryPattern(text, null, all: true);
            return true;
        }

        if (text.EndsWith("/*", StringComparison.Ordinal))
        {
            var prefix = text[..^2];
            if (!RepositoryName.IsValid(prefix))
            {
                return false;
            }

            pattern = new RepositoryPattern(text, prefix + "/", all: false);
            return true;
        }

        if (!RepositoryName.IsValid(text))
        {
            return false;
        }

        pattern = new RepositoryPattern(text, null, all: false);
        return true;
    }

    /// <summary>A repository name or <c>prefix/*</c>, not <c>*</c>: what <c>sync.repositories</c> and a child's repositories hold.</summary>
    public static bool IsNameOrPrefix(string? text) => TryParse(text, out var pattern) && !pattern.All;

    public bool Matches(string repository) =>
        All || (Prefix is not null ? repository.StartsWith(Prefix, StringComparison.Ordinal) && repository.Length > Prefix.Length : repository == Text);

    public override string ToString() => Text;
}
