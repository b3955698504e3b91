namespace ConnectedRegistry.IntegrationTests.Hosting;

/// <summary>
/// The module's executable as an operator types it, in an empty folder: help and version start nothing and create
/// nothing (<c>--help</c> started a server on 127.0.0.1:5000 and 9600 and made ./data and ./twin), and a mistyped
/// option is an error with a suggestion (<c>--dat /x</c> put the data in ./data without a word).
/// </summary>
public sealed class CommandLineTests
{
    [Theory]
    [InlineData("--help")]
    [InlineData("--help", "--urls", "http://127.0.0.1:0")]
    [InlineData("--data", "./elsewhere", "--help")]
    [InlineData("--version")]
    [InlineData("token", "--help")]
    [InlineData("token", "create", "--help")]
    [InlineData("health", "--help")]
    [InlineData("bundle", "--help")]
    [InlineData("bundle", "keygen", "--help")]
    [InlineData("bundle", "state", "--help")]
    [InlineData("bundle", "export", "--help")]
    [InlineData("bundle", "import", "--help")]
    [InlineData("call", "--help")]
    [InlineData("sample-image", "--help")]
    public async Task Help_and_version_exit_0_at_once_and_create_nothing(params string[] args)
    {
        var folder = TempDirectory.Create("cli-help");
        try
        {
            var (exit, output, error) = await RunInAsync(folder, args);

            Assert.True(exit == 0, $"exit {exit}: {error}");
            Assert.Empty(error);
            Assert.Contains(args[0] == "--version" ? "0." : "Usage:", output, StringComparison.Ordinal);
            Assert.Empty(Directory.EnumerateFileSystemEntries(folder)); // no ./data, no ./twin
        }
        finally
        {
            TempDirectory.Delete(folder);
        }
    }

    [Fact]
    public async Task The_help_lists_every_option_with_its_environment_variable_and_every_command()
    {
        var folder = TempDirectory.Create("cli-help");
        try
        {
            var (_, output, _) = await RunInAsync(folder, ["--help"]);
            foreach (var option in new[] { "--urls", "--data", "--desired", "--reported", "--events", "--metrics-urls", "--tls-cert", "--trusted-proxies", "--upload-max-age", "--gc-grace", "--sync-parallel-blobs" })
            {
                Assert.Contains(output.Split('\n'), line => line.TrimStart().StartsWith(option + " ", StringComparison.Ordinal) && line.Contains('[', StringComparison.Ordinal));
            }

            foreach (var command in new[] { "token", "health", "bundle", "call", "sample-image" })
            {
                Assert.Contains(output.Split('\n'), line => line.TrimStart().StartsWith(command + " ", StringComparison.Ordinal));
            }

            Assert.Contains("--Section:Key VALUE", output, StringComparison.Ordinal);
        }
        finally
        {
            TempDirectory.Delete(folder);
        }
    }

    [Theory]
    [InlineData("--data", "--dat", "./x")]
    [InlineData("--metrics-urls", "--metric-urls", "")]
    [InlineData(null, "--urls", "http://127.0.0.1:0", "serve")]
    [InlineData("--name", "token", "create", "--nmae", "puller", "--scope", "*=content/read")]
    [InlineData("--output", "bundle", "state", "--data", "./x", "--ouptut", "state.json")]
    [InlineData("--payload", "call", "getStatus", "--paylod", "{}")]
    public async Task A_mistyped_option_or_a_stray_argument_exits_2_with_a_suggestion_and_starts_nothing(string? suggestion, params string[] args)
    {
        var folder = TempDirectory.Create("cli-typo");
        try
        {
            var (exit, output, error) = await RunInAsync(folder, args);

            Assert.True(exit == 2, $"exit {exit}: {error}");
            Assert.Empty(output);
            Assert.Contains("Unrecognized command or argument", error, StringComparison.Ordinal);
            if (suggestion is not null)
            {
                Assert.Contains($"Did you mean '{suggestion}'?", error, StringComparison.Ordinal);
            }

            Assert.Empty(Directory.EnumerateFileSystemEntries(folder));
        }
        finally
        {
            TempDirectory.Delete(folder);
        }
    }

    /// <summary>The module's executable run in <paramref name="folder"/>; bounded, so a server that starts fails the test instead of hanging it.</summary>
    private static Task<(int Exit, string Output, string Error)> RunInAsync(string folder, string[] args) =>
        Tools.RunModuleAsync(args, limit: TimeSpan.FromSeconds(30), workingDirectory: folder);
}
