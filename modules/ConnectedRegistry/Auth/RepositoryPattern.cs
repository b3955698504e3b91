using System.Diagnostics.CodeAnalysis;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Auth;

/// <summary>
/// A repository pattern of a scope map or a child's repository list: <c>*</c> (every repository),
/// <c>prefix/*</c> (every repository under <c>prefix/</c>, at any depth, but not <c>prefix</c> itself),
/// or an exact repository name.
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

    public bool All { get; }

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

    public bool Matches(string repository) =>
        All || (Prefix is not null ? repository.StartsWith(Prefix, StringComparison.Ordinal) && repository.Length > Prefix.Length : repository == Text);

    public override string ToString() => Text;
}
