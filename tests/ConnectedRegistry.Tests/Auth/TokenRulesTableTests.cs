using ConnectedRegistry.Auth;
using ConnectedRegistry.Twin;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Auth;

/// <summary>
/// One table of client tokens and children, run through the twin's parser and through <c>token create</c>: both
/// must accept the same entries and refuse the same ones for the same reason (they call the same rules, AuthRules).
/// Before they did, a child with 501 repositories, or with none, was accepted by the twin and refused by the command.
/// </summary>
public class TokenRulesTableTests
{
    /// <summary>How the command starts each line of its refusal.</summary>
    private const string Prefix = "ConnectedRegistry token create: ";

    private const string Hash = "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=";

    /// <summary>A client token (<paramref name="Scopes"/>) or, with <paramref name="ChildMode"/>, a child (<paramref name="Repositories"/>).</summary>
    public sealed record Entry(string Case, string Name, Dictionary<string, string[]>? Scopes, string? ChildMode, string[]? Repositories, string? Reason)
    {
        public override string ToString() => Case;
    }

    private static Entry Token(string @case, string name, Dictionary<string, string[]> scopes, string? reason = null) => new(@case, name, scopes, null, null, reason);

    private static Entry Child(string @case, string name, string mode, string[] repositories, string? reason = null) => new(@case, name, null, mode, repositories, reason);

    private static Dictionary<string, string[]> Repos(int count) =>
        Enumerable.Range(0, count).ToDictionary(i => $"repo{i}", _ => new[] { "content/read" });

    private static string[] Names(int count) => [.. Enumerable.Range(0, count).Select(i => $"apps/repo{i}")];

    public static TheoryData<Entry> Table() =>
    [
        Token("a reader of a prefix", "line-puller", new() { ["factory/*"] = ["content/read", "metadata/read"] }),
        Token("everything", "admin", new() { ["*"] = ["content/read", "content/write", "content/delete", "metadata/read", "metadata/write"] }),
        Token("an unknown action", "puller", new() { ["app"] = ["content/fly"] }, "'app' has unknown action 'content/fly'"),
        Token("an upper-case repository", "puller", new() { ["Repo"] = ["content/read"] }, "'Repo' is not a repository name, 'prefix/*' or '*'"),
        Token("a name starting with '-'", "-ci", new() { ["app"] = ["content/read"] }, "the name must be 1-50 letters, digits, '-' or '_', starting with a letter or digit"),
        Token("a name of 51 characters", new string('t', 51), new() { ["app"] = ["content/read"] }, "the name must be 1-50 letters"),
        Token("500 repository permissions", "wide", Repos(500)),
        Token("501 repository permissions", "wide", Repos(501), "the scope map has 501 repository permissions; at most 500 are allowed"),
        Child("a ReadOnly child", "cell-three", "ReadOnly", ["factory/*", "base"]),
        Child("a ReadWrite child", "cell-three", "ReadWrite", ["factory/*"]),
        Child("500 repositories", "cell-three", "ReadOnly", Names(500)),
        Child("501 repositories", "cell-three", "ReadOnly", Names(501), "501 repositories; at most 500 are allowed"),
        Child("no repository", "cell-three", "ReadOnly", [], "repositories is empty; give at least one repository name or 'prefix/*'"),
        Child("every repository", "cell-three", "ReadOnly", ["*"], "'*' is not a repository name or 'prefix/*'"),
        Child("a name of 4 characters", "cell", "ReadOnly", ["base"], "the name must be 5-40 letters, digits, '-' or '_', starting with a letter"),
    ];

    [Theory]
    [MemberData(nameof(Table))]
    public void The_twin_parser_judges_the_entry_as_the_table_says(Entry entry)
    {
        var (member, body) = entry.ChildMode is null
            ? ("clientTokens", new JObject { ["passwordHash"] = Hash, ["scopeMap"] = new JObject(entry.Scopes!.Select(s => new JProperty(s.Key, new JArray(s.Value)))) })
            : ("children", new JObject { ["mode"] = entry.ChildMode, ["syncTokenPasswordHash"] = Hash, ["repositories"] = new JArray(entry.Repositories!) });

        var result = DesiredPropertiesParser.Parse(new JObject { ["name"] = "edge-top", [member] = new JObject { [entry.Name] = body } });

        var owner = $"{member}.{entry.Name}: ";
        var reasons = result.Errors.Select(e => e.StartsWith(owner, StringComparison.Ordinal) ? e[owner.Length..] : e).ToList();
        if (entry.Reason is null)
        {
            Assert.True(result.IsValid, string.Join("; ", result.Errors));
        }
        else
        {
            Assert.False(result.IsValid);
            Assert.Contains(reasons, r => r.StartsWith(entry.Reason, StringComparison.Ordinal));
        }
    }

    [Theory]
    [MemberData(nameof(Table))]
    public void Token_create_judges_the_entry_as_the_table_says(Entry entry)
    {
        List<string> args = ["create", "--name", entry.Name];
        if (entry.ChildMode is null)
        {
            args.AddRange(entry.Scopes!.SelectMany(s => new[] { "--scope", $"{s.Key}={string.Join(',', s.Value)}" }));
        }
        else
        {
            args.AddRange(["--sync", "--mode", entry.ChildMode]);
            args.AddRange(entry.Repositories!.SelectMany(r => new[] { "--repository", r }));
        }

        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = TokenCommand.Run([.. args], stdout, stderr);

        var reasons = stderr.ToString().Split('\n').Select(l => l.TrimEnd('\r')).Select(l => l.StartsWith(Prefix, StringComparison.Ordinal) ? l[Prefix.Length..] : l).ToList();
        if (entry.Reason is null)
        {
            Assert.True(code == 0, stderr.ToString());
        }
        else
        {
            Assert.Equal(2, code);
            Assert.Contains(reasons, r => r.StartsWith(entry.Reason, StringComparison.Ordinal));
        }
    }
}
