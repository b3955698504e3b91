using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;

namespace ConnectedRegistry.Core;

/// <summary>
/// Runs a command line of the module the same way for the registry and every command: <c>--help</c> (on any
/// command) and <c>--version</c> print and exit 0 without starting or creating anything; an unknown option, a stray
/// argument, a missing value or a repeated option exits <see cref="BadArguments"/> with the reason on standard error,
/// a "did you mean" for a mistyped name and where the help is; anything else is the command's own exit code. The
/// hand-written loops each command had ignored an unknown option (<c>--dat /x</c> put the data in ./data) or took
/// <c>--help</c> for a value.
/// </summary>
public static class CommandLineRunner
{
    /// <summary>The exit code of a command line the module cannot take (the same as a start-up error's).</summary>
    public const int BadArguments = 2;

    /// <summary>The name the help shows: the executable's, whether it runs alone or through <c>dotnet</c> and its dll.</summary>
    public const string ProgramName = "ConnectedRegistry";

    // No response files: an argument that starts with '@' is a value like any other (a path, a tag), never a file to read arguments from.
    private static readonly ParserConfiguration Parser = new() { ResponseFileTokenReplacer = null };

    /// <summary>The top command: named <see cref="ProgramName"/>, with <c>--help</c> (inherited by every command below) and <c>--version</c>.</summary>
    public static Command Root(string description, params Command[] commands)
    {
        var root = new Command(ProgramName, description) { new HelpOption(), new VersionOption() };
        foreach (var command in commands)
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    /// <summary>Parses <paramref name="args"/> against <paramref name="root"/> and runs what they select.</summary>
    public static async Task<int> RunAsync(Command root, IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var result = root.Parse(args, Parser);
        if (result.Action is ParseErrorAction || (result.Errors.Count > 0 && result.Action is not HelpAction))
        {
            await WriteErrorsAsync(result, error);
            return BadArguments;
        }

        // No signal handling of System.CommandLine's own: the registry's host shuts down gracefully on SIGTERM itself,
        // and a second handler would cut that short after its timeout.
        var invocation = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
        return await result.InvokeAsync(invocation, cancellationToken);
    }

    /// <summary>The words that select <paramref name="command"/> (<c>ConnectedRegistry bundle export</c>), for messages.</summary>
    public static string PathOf(ParseResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result.CommandResult; r is CommandResult c; r = c.Parent)
        {
            names.Insert(0, c.Command.Name);
        }

        return string.Join(' ', names);
    }

    /// <summary>A command's own refusal of its arguments (a value the parser let through): the reason, where the help is, exit code 2.</summary>
    public static int Refuse(ParseResult result, TextWriter error, string message)
    {
        var path = PathOf(result);
        error.WriteLine($"{path}: {message}");
        error.WriteLine($"Run '{path} --help' for its usage.");
        return BadArguments;
    }

    private static async Task WriteErrorsAsync(ParseResult result, TextWriter error)
    {
        var path = PathOf(result);
        var unmatched = result.UnmatchedTokens.ToHashSet(StringComparer.Ordinal);
        foreach (var message in result.Errors.Select(e => e.Message).Distinct(StringComparer.Ordinal))
        {
            var token = unmatched.FirstOrDefault(t => message.Contains($"'{t}'", StringComparison.Ordinal));
            var hint = token is null ? null : Suggest(result.CommandResult.Command, token);
            await error.WriteLineAsync($"{path}: {message}{(hint is null ? string.Empty : $" Did you mean '{hint}'?")}");
        }

        await error.WriteLineAsync($"Run '{path} --help' for its usage.");
    }

    /// <summary>The option or command of <paramref name="command"/> closest to a mistyped <paramref name="token"/>, or null when none is close.</summary>
    internal static string? Suggest(Command command, string token)
    {
        var name = token.Split('=', 2)[0];
        IEnumerable<string> candidates = name.StartsWith('-')
            ? command.Options.Where(o => !o.Hidden).SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal))
            : command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name);
        return candidates
            .Select(c => (Name: c, Distance: Distance(name.ToLowerInvariant(), c.ToLowerInvariant())))
            .Where(c => c.Distance <= Math.Max(2, c.Name.Length / 3) || (name.Length > 3 && c.Name.StartsWith(name, StringComparison.OrdinalIgnoreCase)))
            .OrderBy(c => c.Distance)
            .ThenBy(c => c.Name, StringComparer.Ordinal)
            .Select(c => c.Name)
            .FirstOrDefault();
    }

    /// <summary>Levenshtein distance: the edits that turn one name into the other.</summary>
    private static int Distance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            previous = current;
        }

        return previous[b.Length];
    }
}
