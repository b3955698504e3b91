using System.Text.RegularExpressions;

namespace ConnectedRegistry.Tests.Infrastructure;

/// <summary>A file that breaks the layer order: where, and what it points at.</summary>
public sealed record LayerViolation(string File, int Line, string Reference, string Reason)
{
    public override string ToString() => $"{File}:{Line}: {Reference}: {Reason}";
}

/// <summary>
/// Checks the module's sources against a bottom-to-top layer order, one layer per top-level folder: a file
/// in a folder may name the namespace of its own folder or of a folder below it, never one above it
/// (<c>using ConnectedRegistry.X;</c>, <c>using static</c>/aliases, and qualified <c>ConnectedRegistry.X.</c>
/// names in code and in doc comments alike, and names qualified from the layer on, <c>Storage.FreeSpaceGuard</c>,
/// which C# resolves against the root namespace from inside it). Some pairs are forbidden although the order
/// allows them (a layer that must not depend on one below it). A file must declare the namespace of its folder, so a
/// namespace cannot hide a file in another layer; a folder missing from the order is reported until it is
/// given a place. Files at the project root (Program.cs) are the entry point, above every layer.
/// </summary>
public sealed partial class LayerChecker
{
    private readonly string _rootNamespace;
    private readonly IReadOnlyList<string> _order;
    private readonly IReadOnlyList<(string From, string To)> _forbidden;

    /// <param name="order">Layer folders from bottom to top.</param>
    /// <param name="forbidden">Pairs of layers where the first may not use the second, whatever the order says.</param>
    public LayerChecker(string rootNamespace, IReadOnlyList<string> order, IReadOnlyList<(string From, string To)>? forbidden = null)
    {
        _rootNamespace = rootNamespace;
        _order = order;
        _forbidden = forbidden ?? [];
    }

    public string OrderText => string.Join(" < ", _order);

    /// <param name="files">Source files by their path relative to the project folder ('/' separated) and their text.</param>
    public IReadOnlyList<LayerViolation> Check(IEnumerable<(string Path, string Source)> files)
    {
        var violations = new List<LayerViolation>();
        foreach (var (path, source) in files)
        {
            violations.AddRange(CheckFile(path.Replace('\\', '/'), source));
        }

        return violations;
    }

    private IEnumerable<LayerViolation> CheckFile(string path, string source)
    {
        var slash = path.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            yield break; // the entry point may use any layer
        }

        var folder = path[..slash];
        var layer = IndexOf(folder);
        if (layer < 0)
        {
            yield return new LayerViolation(path, 1, folder + "/", $"folder {folder} has no place in the layer order {OrderText}; add it where its uses put it");
            yield break;
        }

        var lines = source.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var declared = NamespaceDeclaration().Match(line);
            if (declared.Success)
            {
                var expected = _rootNamespace + "." + folder;
                var name = declared.Groups[1].Value;
                if (name != expected && !name.StartsWith(expected + ".", StringComparison.Ordinal))
                {
                    yield return new LayerViolation(path, i + 1, name, $"a file in {folder}/ must declare namespace {expected}");
                }

                continue;
            }

            foreach (Match reference in QualifiedName().Matches(line))
            {
                var qualifier = reference.Groups[1].Value;
                string target;
                if (qualifier == _rootNamespace)
                {
                    target = reference.Groups[2].Value;
                }
                else if (IndexOf(qualifier) >= 0 && char.IsUpper(reference.Groups[2].Value[0]))
                {
                    target = qualifier; // Storage.FreeSpaceGuard: ConnectedRegistry.Storage, named from the layer on
                }
                else
                {
                    continue;
                }

                var targetLayer = IndexOf(target);
                if (targetLayer < 0)
                {
                    yield return new LayerViolation(path, i + 1, _rootNamespace + "." + target, $"{target} is not a layer of {OrderText}");
                }
                else if (targetLayer > layer)
                {
                    yield return new LayerViolation(path, i + 1, _rootNamespace + "." + target, $"{folder} uses {target}, a layer above it ({OrderText})");
                }
                else if (_forbidden.Contains((folder, target)))
                {
                    yield return new LayerViolation(path, i + 1, _rootNamespace + "." + target, $"{folder} may not use {target} (a forbidden pair, although {target} is below it)");
                }
            }
        }
    }

    private int IndexOf(string folder)
    {
        for (var i = 0; i < _order.Count; i++)
        {
            if (string.Equals(_order[i], folder, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)")]
    private static partial Regex NamespaceDeclaration();

    // global::ConnectedRegistry.X, using ConnectedRegistry.X;, ConnectedRegistry.X.Type, cref="ConnectedRegistry.X.Type", X.Type.
    [GeneratedRegex(@"(?<![\w.])(?:global::)?(\w+)\.([A-Za-z_]\w*)")]
    private static partial Regex QualifiedName();
}
