using System.Text.RegularExpressions;

namespace ConnectedRegistry.Tests.Docs;

/// <summary>One reference table of a markdown file: its rows as raw text and the first cell of each.</summary>
public sealed partial record MarkdownTable(string File, string Name, IReadOnlyList<MarkdownTableRow> Rows)
{
    /// <summary>
    /// The table of <paramref name="file"/> (relative to the repository root) whose header row begins with
    /// <paramref name="header"/> (cells compared trimmed), or null when the file has no such table.
    /// </summary>
    public static MarkdownTable? Find(string file, string name, params string[] header)
    {
        var lines = System.IO.File.ReadAllLines(Path.Combine(RepositoryRoot.Path, file));
        for (var i = 0; i + 1 < lines.Length; i++)
        {
            var cells = Cells(lines[i]);
            if (cells.Count < header.Length || !header.Select((h, k) => cells[k] == h).All(same => same) || !lines[i + 1].StartsWith("|---", StringComparison.Ordinal))
            {
                continue;
            }

            var rows = new List<MarkdownTableRow>();
            for (var j = i + 2; j < lines.Length && lines[j].StartsWith('|'); j++)
            {
                var rowCells = Cells(lines[j]);
                rows.Add(new MarkdownTableRow(lines[j], rowCells.Count > 0 ? rowCells[0] : string.Empty, rowCells.Count > 1 ? rowCells[1] : string.Empty, j + 1));
            }

            return new MarkdownTable(file, name, rows);
        }

        return null;
    }

    /// <summary>The <c>`quoted`</c> parts of <paramref name="text"/>, in order.</summary>
    public static IReadOnlyList<string> Quoted(string text) => [.. QuotedRegex().Matches(text).Select(m => m.Groups[1].Value)];

    // A cell's pipes inside backquotes (`keygen|state`) are text, not a separator.
    private static List<string> Cells(string line)
    {
        if (!line.StartsWith('|'))
        {
            return [];
        }

        var cells = new List<string>();
        var current = new System.Text.StringBuilder();
        var quoted = false;
        foreach (var c in line.AsSpan(1))
        {
            if (c == '`')
            {
                quoted = !quoted;
            }

            if (c == '|' && !quoted)
            {
                cells.Add(current.ToString().Trim());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }

        return cells;
    }

    [GeneratedRegex("`([^`]+)`", RegexOptions.CultureInvariant)]
    private static partial Regex QuotedRegex();
}

/// <summary>A row: its text, its first two cells, and its line number (1-based) for messages.</summary>
public sealed record MarkdownTableRow(string Text, string First, string Second, int Line);
