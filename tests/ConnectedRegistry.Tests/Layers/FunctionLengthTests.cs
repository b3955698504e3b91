using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ConnectedRegistry.Tests.Layers;

/// <summary>
/// No function of the module's folders but Storage (Sync, Bundles and Twin first, which mixed the most concerns into one
/// body; then every other folder once its last long function was cut) is longer than <see cref="MaxLines"/> lines, measured on the compiler's own parse: methods, constructors, operators,
/// accessors, expression-bodied properties, local functions and lambdas, each from its first token to its
/// last (leading doc comments not counted, attributes counted; a local function or lambda counts inside
/// its member too, so moving code into one does not hide it).
/// </summary>
public class FunctionLengthTests
{
    public const int MaxLines = 60;

    /// <summary>Every folder but Storage, whose two long functions (RetentionScheduler.ExecuteAsync, MetadataSql.BlobBytesOf) are not cut yet.</summary>
    public static readonly string[] MeasuredFolders = ["Sync", "Bundles", "Twin", "Auth", "Core", "Distribution", "Events", "Hierarchy", "Hosting", "Identity", "Monitoring", "Oci", "Tls"];

    [Fact]
    public void No_function_outside_Storage_is_longer_than_sixty_lines()
    {
        var project = Path.Combine(RepositoryRoot.Path, "modules", "ConnectedRegistry");
        var files = MeasuredFolders
            .SelectMany(folder => Directory.EnumerateFiles(Path.Combine(project, folder), "*.cs", SearchOption.AllDirectories))
            .Select(file => (Path.GetRelativePath(project, file).Replace('\\', '/'), File.ReadAllText(file)))
            .ToList();
        Assert.True(files.Count > 80, $"only {files.Count} source files found under {string.Join(", ", MeasuredFolders)}");

        var tooLong = files.SelectMany(file => FunctionLengths.Measure(file.Item1, file.Item2))
            .Where(function => function.Lines > MaxLines)
            .OrderByDescending(function => function.Lines)
            .ToList();

        Assert.True(tooLong.Count == 0, $"{tooLong.Count} functions over {MaxLines} lines:\n" + string.Join('\n', tooLong));
    }

    [Fact]
    public void Every_kind_of_function_is_measured_from_its_first_token_to_its_last()
    {
        var source = """
            namespace N;

            public class C
            {
                /// <summary>not counted</summary>
                public C()
                {
                }

                public int Add(int a, int b) => a + b;

                public int Value
                {
                    get
                    {
                        return 1;
                    }
                }

                public string Name => "n";

                private void Outer()
                {
                    Inner();
                    void Inner()
                    {
                        Func<int, int> twice = x =>
                        {
                            return x * 2;
                        };
                    }
                }

                public static C operator +(C a, C b) => a;
            }
            """;

        var measured = FunctionLengths.Measure("N/C.cs", source)
            .Select(function => (function.Name, function.Line, function.Lines))
            .ToList();

        Assert.Equal(
            [
                ("C.C", 6, 3),
                ("C.Add", 10, 1),
                ("C.Value.get", 14, 4),
                ("C.Name", 20, 1),
                ("C.Outer", 22, 11),
                ("C.Outer.Inner", 25, 7),
                ("C.Outer.Inner.lambda", 27, 4),
                ("C.op_Addition", 34, 1),
            ],
            measured);
    }

    [Fact]
    public void A_function_one_line_over_the_limit_is_reported_with_its_file_line_and_length()
    {
        static string Body(int lines) => string.Concat(Enumerable.Repeat("        _ = 0;\n", lines));
        var source = "class Long\n{\n"
            + "    void Exactly()\n    {\n" + Body(MaxLines - 3) + "    }\n\n"
            + "    void Over()\n    {\n" + Body(MaxLines - 2) + "    }\n}\n";

        var measured = FunctionLengths.Measure("Sync/Long.cs", source).ToList();

        Assert.Equal([("Long.Exactly", MaxLines), ("Long.Over", MaxLines + 1)], measured.Select(f => (f.Name, f.Lines)));
        var over = Assert.Single(measured, function => function.Lines > MaxLines);
        Assert.Equal($"Sync/Long.cs:{MaxLines + 4} Long.Over ({MaxLines + 1} lines)", over.ToString());
    }
}

/// <summary>One function's place and length, as the compiler parses it.</summary>
public sealed record FunctionLength(string File, int Line, string Name, int Lines)
{
    public override string ToString() => $"{File}:{Line} {Name} ({Lines} lines)";
}

/// <summary>Measures every function of one C# source file from Roslyn's syntax tree.</summary>
public static class FunctionLengths
{
    public static IEnumerable<FunctionLength> Measure(string file, string source)
    {
        var root = CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Preview), file).GetRoot();
        foreach (var node in root.DescendantNodes())
        {
            var name = NameOf(node);
            if (name is null)
            {
                continue;
            }

            var lines = node.GetLocation().GetLineSpan();
            yield return new FunctionLength(file, lines.StartLinePosition.Line + 1, name,
                lines.EndLinePosition.Line - lines.StartLinePosition.Line + 1);
        }
    }

    /// <summary>The function's name qualified by what encloses it, or null when the node is not a function.</summary>
    private static string? NameOf(SyntaxNode node)
    {
        var own = node switch
        {
            MethodDeclarationSyntax method => method.Identifier.Text,
            ConstructorDeclarationSyntax constructor => constructor.Identifier.Text,
            DestructorDeclarationSyntax destructor => "~" + destructor.Identifier.Text,
            OperatorDeclarationSyntax op => OperatorName(op),
            ConversionOperatorDeclarationSyntax conversion => "op_" + conversion.ImplicitOrExplicitKeyword.Text,
            AccessorDeclarationSyntax accessor => accessor.Keyword.Text,
            PropertyDeclarationSyntax { ExpressionBody: not null } property => property.Identifier.Text,
            IndexerDeclarationSyntax { ExpressionBody: not null } => "this[]",
            LocalFunctionStatementSyntax local => local.Identifier.Text,
            AnonymousFunctionExpressionSyntax => "lambda",
            _ => null,
        };
        if (own is null)
        {
            return null;
        }

        var enclosing = node.Ancestors().Select(EnclosingName).Where(part => part is not null).Reverse();
        return string.Join('.', enclosing.Append(own));
    }

    private static string? EnclosingName(SyntaxNode node) => node switch
    {
        BaseTypeDeclarationSyntax type => type.Identifier.Text,
        DelegateDeclarationSyntax @delegate => @delegate.Identifier.Text,
        MethodDeclarationSyntax method => method.Identifier.Text,
        ConstructorDeclarationSyntax constructor => constructor.Identifier.Text,
        BasePropertyDeclarationSyntax property => property switch
        {
            PropertyDeclarationSyntax p => p.Identifier.Text,
            EventDeclarationSyntax e => e.Identifier.Text,
            _ => "this[]",
        },
        OperatorDeclarationSyntax op => OperatorName(op),
        LocalFunctionStatementSyntax local => local.Identifier.Text,
        AnonymousFunctionExpressionSyntax => "lambda",
        _ => null,
    };

    private static string OperatorName(OperatorDeclarationSyntax op) => op.OperatorToken.Kind() switch
    {
        SyntaxKind.PlusToken => "op_Addition",
        SyntaxKind.MinusToken => "op_Subtraction",
        SyntaxKind.EqualsEqualsToken => "op_Equality",
        SyntaxKind.ExclamationEqualsToken => "op_Inequality",
        _ => "op_" + op.OperatorToken.Text,
    };
}
