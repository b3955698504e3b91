using ConnectedRegistry.Core;
using ConnectedRegistry.Hosting;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Twin;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>
/// The retention pass from the command line: <c>ConnectedRegistry retention --data DIR [--dry-run]</c> on a stopped
/// registry's data root (with its last good desired properties), its refusal while the registry runs, and
/// <c>ConnectedRegistry call retention --payload '{"dryRun":true}'</c> on a running standalone site.
/// </summary>
public sealed class RetentionCommandTests
{
    private static async Task<(int Code, string Output, string Error)> RunAsync(Command command, params string[] args)
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        var root = command switch
        {
            Command.Retention => CommandLineRunner.Root("test", RetentionCommand.Create(output, dataArgs => RegistryHost.Build(dataArgs, b => b.Logging.SetMinimumLevel(LogLevel.Warning)))),
            _ => CommandLineRunner.Root("test", CallCommand.Create()),
        };
        var code = await CommandLineRunner.RunAsync(root, args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private enum Command
    {
        Retention,
        Call,
    }

    [Fact]
    public async Task The_command_lists_and_then_removes_on_a_stopped_data_root_and_refuses_while_the_registry_runs()
    {
        var dataRoot = TempDirectory.Create("retention-command");
        try
        {
            var desired = Path.Combine(dataRoot, "twin", "desired.json");
            Directory.CreateDirectory(Path.GetDirectoryName(desired)!);
            await File.WriteAllTextAsync(desired, """{ "schemaVersion": "1.0", "storage": { "retention": [{ "repositories": ["cmd/*"], "keepTags": "^keep" }] } }""");
            await using (var registry = await RegistryInstance.StartAsync(dataRoot))
            {
                foreach (var tag in new[] { "keep-1", "drop-1", "drop-2" })
                {
                    await registry.Client.PushImageAsync("cmd/app", tag, TestContent.Image($"cmd-{tag}"));
                }

                // Running: the command refuses and names the method; the method answers through `call`.
                var refused = await RunAsync(Command.Retention, "retention", "--data", dataRoot, "--dry-run");
                Assert.Equal(1, refused.Code);
                Assert.Contains("a registry is running on", refused.Error, StringComparison.Ordinal);
                Assert.Contains("call retention", refused.Error, StringComparison.Ordinal);

                var called = await RunAsync(Command.Call, "call", "retention", "--data", dataRoot, "--payload", """{"dryRun":true}""");
                Assert.Equal(0, called.Code);
                var answer = JObject.Parse(called.Output);
                Assert.True(answer.Value<bool>("dryRun"));
                Assert.Equal(2, answer.Value<int>("tagsRemoved"));
            }

            // Stopped: the last good desired properties (saved by the run) give the rules.
            var dry = await RunAsync(Command.Retention, "retention", "--data", dataRoot, "--dry-run");
            Assert.Equal(0, dry.Code);
            var listed = JObject.Parse(dry.Output);
            Assert.Equal(["drop-1", "drop-2"], listed["tags"]!.Select(t => t.Value<string>("tag")!).Order(StringComparer.Ordinal));
            Assert.All(listed["tags"]!, t => Assert.True(t.Value<long>("size") > 0));
            Assert.Equal(3, TestDatabase.Scalar(Path.Combine(dataRoot, "registry.db"), "SELECT COUNT(*) FROM tags"));

            var run = await RunAsync(Command.Retention, "retention", "--data", dataRoot);
            Assert.Equal(0, run.Code);
            Assert.False(JObject.Parse(run.Output).Value<bool>("dryRun"));
            Assert.Equal(1, TestDatabase.Scalar(Path.Combine(dataRoot, "registry.db"), "SELECT COUNT(*) FROM tags"));
            StoreVerifier.Verify(dataRoot);

            var missing = await RunAsync(Command.Retention, "retention", "--data", Path.Combine(dataRoot, "nowhere"));
            Assert.Equal(1, missing.Code);
            Assert.Contains("does not exist", missing.Error, StringComparison.Ordinal);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            TempDirectory.Delete(dataRoot);
        }
    }
}
