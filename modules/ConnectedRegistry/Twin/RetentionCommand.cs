using System.CommandLine;
using ConnectedRegistry.Storage;
using Newtonsoft.Json;

namespace ConnectedRegistry.Twin;

/// <summary>
/// <c>ConnectedRegistry retention --data DIR [--dry-run] [--desired FILE]</c>: a retention pass on a stopped registry's
/// data root (<see cref="StoppedDataRoot"/>), with the rules of <c>--desired FILE</c> or else of the last good desired
/// properties kept there; <c>--dry-run</c> lists what would go and changes nothing. Prints the same JSON as the
/// <c>retention</c> direct method, every entry listed. A registry running on the data root is not worked on from a
/// second process (its writes are serialised inside it): the command refuses and names <c>call retention</c>. Exit 0
/// done, 1 refused or failed (the reason on stderr), 2 bad arguments.
/// </summary>
public static class RetentionCommand
{
    public static Command Create(TextWriter output, Func<string[], WebApplication> openDataRoot)
    {
        var data = new Option<string>("--data") { Description = "The data root of this module (the registry stopped).", HelpName = "DIR", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "List what a pass would remove, with sizes; change nothing." };
        var desired = new Option<string>("--desired") { Description = "The settings to use (a desired properties document); default: the last good desired properties kept in the data root.", HelpName = "FILE" };
        var command = new Command("retention", "Run a retention pass (storage.retention) on a stopped registry's data root, or list what it would remove (--dry-run); a running registry has the retention method (call retention).")
        {
            data, dryRun, desired,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var error = result.InvocationConfiguration.Error;
            var root = result.GetValue(data)!;
            if (StoppedDataRoot.IsServed(root))
            {
                await error.WriteLineAsync($"{Core.CommandLineRunner.PathOf(result)}: a registry is running on {root}; use its method: ConnectedRegistry call retention --data {root}{(result.GetValue(dryRun) ? " --payload '{\"dryRun\":true}'" : string.Empty)}");
                return 1;
            }

            try
            {
                await using var app = StoppedDataRoot.Open(openDataRoot, root, result.GetValue(desired));
                var pass = await app.Services.GetRequiredService<RetentionPass>().RunAsync(result.GetValue(dryRun), cancellationToken);
                await output.WriteLineAsync(RetentionMethod.Describe(pass, null).ToString(Formatting.Indented));
                return 0;
            }
            catch (Exception ex) when (ex is StoppedDataRootException or IOException or UnauthorizedAccessException or JsonException or Microsoft.Data.Sqlite.SqliteException)
            {
                await error.WriteLineAsync($"{Core.CommandLineRunner.PathOf(result)}: {ex.Message}");
                return 1;
            }
        });
        return command;
    }
}
