using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using ConnectedRegistry.Core;
using ConnectedRegistry.Hosting;
using ConnectedRegistry.Monitoring;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.Tests.Docs;

/// <summary>
/// The reference tables of the README and docs/ (twin members, reported members, status detail codes, direct methods,
/// metrics, event types) against the code, both ways: what the code has that a table lacks, and what a table lists
/// that the code does not have. The code's side is read from the code itself (the parser's member sets, the reported
/// document as built, the method registrations of the composed app, the exporter's output, the declared constants),
/// never from a second list, so a table cannot drift unnoticed.
/// </summary>
public sealed partial class DocsTablesTests
{
    private const string Readme = "README.md";
    private const string TwinDoc = "docs/twin.md";

    private static readonly Assembly Module = typeof(RegistrySettings).Assembly;

    [Fact]
    public void The_desired_properties_tables_list_every_member_the_parser_knows_and_no_other()
    {
        var failures = new List<string>();
        foreach (var file in new[] { Readme, TwinDoc })
        {
            var table = Table(failures, file, "desired properties", "property", "type", "default");
            Compare(failures, table, table?.Rows.SelectMany(r => MarkdownTable.Quoted(r.First)), DesiredPropertiesParser.MemberPaths());
        }

        AssertNone(failures);
    }

    [Fact]
    public void The_reported_properties_tables_list_every_member_the_module_reports_and_no_other()
    {
        var reported = ReportedProperties.Build(new ModuleState().Snapshot(), DesiredStatus.Initial).Properties().Select(p => p.Name)
            .Append(StartupErrorReport.Member); // only after a start that failed, written by the report of it
        var failures = new List<string>();
        foreach (var file in new[] { Readme, TwinDoc })
        {
            var table = Table(failures, file, "reported properties", "property", "type", "meaning");
            Compare(failures, table, table?.Rows.SelectMany(r => MarkdownTable.Quoted(r.First)), reported);
        }

        AssertNone(failures);
    }

    [Fact]
    public void The_status_details_row_lists_every_declared_status_detail_code_and_no_other()
    {
        var failures = new List<string>();
        foreach (var file in new[] { Readme, TwinDoc })
        {
            var table = Table(failures, file, "reported properties", "property", "type", "meaning");
            var row = table?.Rows.FirstOrDefault(r => r.First == "`statusDetails`");
            if (table is not null && row is null)
            {
                failures.Add($"{file}: the reported properties table has no `statusDetails` row");
            }

            // The codes are the ones named after "e.g."; before it, the shape of an entry.
            var documented = row is null ? null : MarkdownTable.Quoted(row.Text[Math.Max(0, row.Text.IndexOf("e.g.", StringComparison.Ordinal))..]);
            Compare(failures, table is null ? null : table with { Name = "statusDetails row" }, documented, DeclaredStatusDetailCodes().Keys);
        }

        AssertNone(failures);
    }

    [Fact]
    public void Every_status_detail_is_raised_with_a_declared_code()
    {
        // The declared set above is the truth only if no detail is raised with a code declared elsewhere: a literal, or a
        // constant without [StatusDetailCode], would be a code the docs' test cannot see.
        var source = Path.Combine(RepositoryRoot.Path, "modules", "ConnectedRegistry");
        var constants = Module.GetTypes()
            .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .ToList();
        var failures = new List<string>();
        var raised = 0;
        foreach (var file in Directory.EnumerateFiles(source, "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            foreach (Match match in NewStatusDetailRegex().Matches(File.ReadAllText(file)))
            {
                raised++;
                var argument = match.Groups["code"].Value.Trim();
                var where = $"{Path.GetRelativePath(source, file)}: new StatusDetail({argument}, …)";
                if (argument.StartsWith('"'))
                {
                    failures.Add($"{where}: the code is a literal; declare it as a [StatusDetailCode] constant");
                    continue;
                }

                var name = IdentifierRegex().Match(argument);
                var candidates = constants.Where(f => f.Name == name.Groups["name"].Value && (!name.Groups["type"].Success || f.DeclaringType!.Name == name.Groups["type"].Value)).ToList();
                if (candidates.Count > 0 && !candidates.Any(f => f.IsDefined(typeof(StatusDetailCodeAttribute))))
                {
                    failures.Add($"{where}: the constant has no [StatusDetailCode]");
                }
            }
        }

        Assert.True(raised >= 10, $"only {raised} status details found in the source: the scan is broken");
        AssertNone(failures);
    }

    [Fact]
    public async Task The_direct_method_tables_list_every_registered_method_and_no_other()
    {
        var data = Path.Combine(Path.GetTempPath(), "docs-tables-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var app = RegistryHost.Build(["--data", data, "--urls", "http://127.0.0.1:0"]);
            var registered = app.Services.GetServices<DirectMethodRegistration>().Select(r => r.Name).ToList();
            Assert.Contains("getStatus", registered);
            var failures = new List<string>();
            foreach (var file in new[] { Readme, TwinDoc })
            {
                var table = Table(failures, file, "direct methods", "method", "payload");
                Compare(failures, table, table?.Rows.SelectMany(r => MarkdownTable.Quoted(r.First)), registered);
            }

            AssertNone(failures);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task The_metrics_table_lists_every_metric_on_metrics_with_its_type_and_no_other()
    {
        var data = Path.Combine(Path.GetTempPath(), "docs-tables-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var app = RegistryHost.Build(["--data", data, "--urls", "http://127.0.0.1:0"]);
            using var text = new MemoryStream();
            await app.Services.GetRequiredService<PrometheusExporter>().WriteAsync(text, CancellationToken.None);
            var exposed = TypeLineRegex().Matches(Encoding.UTF8.GetString(text.ToArray()))
                .ToDictionary(m => m.Groups["name"].Value, m => m.Groups["type"].Value, StringComparer.Ordinal);
            Assert.True(exposed.Count >= 10, $"only {exposed.Count} metrics exposed: the exporter's text changed");

            var failures = new List<string>();
            var table = Table(failures, Readme, "metrics", "metric", "type", "labels");
            var documented = new List<string>();
            foreach (var row in table?.Rows ?? [])
            {
                foreach (var name in Expand(MarkdownTable.Quoted(row.First), exposed))
                {
                    documented.Add(name);
                    if (exposed.TryGetValue(name, out var type) && type != row.Second)
                    {
                        failures.Add($"{Readme}:{row.Line}, metrics table: {name} is a {type} on /metrics, the table says {row.Second}");
                    }
                }
            }

            Compare(failures, table, documented, exposed.Keys);
            AssertNone(failures);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public void The_events_table_lists_every_event_type_and_no_other()
    {
        var types = typeof(EventTypes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .Select(f => (string)f.GetRawConstantValue()!);
        var failures = new List<string>();
        var table = Table(failures, Readme, "events", "`type`", "when", "subject");
        Compare(failures, table, table?.Rows.SelectMany(r => MarkdownTable.Quoted(r.First)), types);
        AssertNone(failures);
    }

    /// <summary>Every status detail code the module declares ([StatusDetailCode] constants), with where it is declared.</summary>
    private static Dictionary<string, string> DeclaredStatusDetailCodes()
    {
        var codes = Module.GetTypes()
            .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(f => f.IsDefined(typeof(StatusDetailCodeAttribute)))
            .ToDictionary(f => (string)f.GetRawConstantValue()!, f => $"{f.DeclaringType!.Name}.{f.Name}", StringComparer.Ordinal);
        Assert.True(codes.Count >= 10, $"only {codes.Count} status detail codes declared");
        return codes;
    }

    /// <summary>
    /// A metrics cell's names with the abbreviations spelt out: <c>…_free_bytes</c> after
    /// <c>connected_registry_storage_used_bytes</c> is the exposed name that begins with the longest start of the first
    /// name (whole segments) and ends so; one that no exposed name fits stays as written, to be reported.
    /// </summary>
    private static IEnumerable<string> Expand(IReadOnlyList<string> names, IReadOnlyDictionary<string, string> exposed)
    {
        if (names.Count == 0)
        {
            yield break;
        }

        var first = names[0];
        yield return first;
        var segments = first.Split('_');
        foreach (var name in names.Skip(1))
        {
            if (!name.StartsWith('…'))
            {
                yield return name;
                continue;
            }

            var tail = name[1..];
            var spelt = Enumerable.Range(2, Math.Max(0, segments.Length - 2)).Reverse()
                .Select(k => string.Join('_', segments[..k]) + tail)
                .FirstOrDefault(exposed.ContainsKey);
            yield return spelt ?? $"{name} (after {first})";
        }
    }

    private static MarkdownTable? Table(List<string> failures, string file, string name, params string[] header)
    {
        var table = MarkdownTable.Find(file, name, header);
        if (table is null)
        {
            failures.Add($"{file}: no {name} table (a header row beginning | {string.Join(" | ", header)} |)");
        }

        return table;
    }

    private static void Compare(List<string> failures, MarkdownTable? table, IEnumerable<string>? documented, IEnumerable<string> code)
    {
        if (table is null || documented is null)
        {
            return;
        }

        var docs = documented.ToHashSet(StringComparer.Ordinal);
        var truth = code.ToHashSet(StringComparer.Ordinal);
        var missing = truth.Except(docs).Order(StringComparer.Ordinal).ToList();
        var extra = docs.Except(truth).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
        {
            failures.Add($"{table.File}, {table.Name} table: missing from the docs: {string.Join(", ", missing)}");
        }

        if (extra.Count > 0)
        {
            failures.Add($"{table.File}, {table.Name} table: listed by the docs but not in the code: {string.Join(", ", extra)}");
        }
    }

    private static void AssertNone(List<string> failures) => Assert.True(failures.Count == 0, "\n" + string.Join("\n", failures));

    [GeneratedRegex(@"new StatusDetail\(\s*(?<code>[^,]+),", RegexOptions.CultureInvariant)]
    private static partial Regex NewStatusDetailRegex();

    [GeneratedRegex(@"^(?:(?<type>\w+)\.)?(?<name>\w+)$", RegexOptions.CultureInvariant)]
    private static partial Regex IdentifierRegex();

    [GeneratedRegex(@"^# TYPE (?<name>\S+) (?<type>\S+)$", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex TypeLineRegex();
}
