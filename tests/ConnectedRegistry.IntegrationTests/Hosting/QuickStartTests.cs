using System.Text.RegularExpressions;

namespace ConnectedRegistry.IntegrationTests.Hosting;

/// <summary>
/// The README's "Set up" command 1 and its "Quick start" block, taken from the README itself and run as written in an
/// empty folder, so that the test breaks when the README drifts. Two things are replaced: <c>dotnet run --project
/// modules/ConnectedRegistry …</c> by the built executable, and the address 127.0.0.1:5000 by a free port (other
/// registries may run on this machine; the metrics port is turned off for the same reason). Nothing in it reaches
/// outside the machine: its image comes from <c>sample-image</c>.
/// </summary>
public sealed partial class QuickStartTests
{
    [Fact]
    public async Task The_readme_quick_start_runs_as_written_on_a_machine_without_an_outside_registry()
    {
        var readme = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "README.md"));
        var setUp = Block(readme, "## Set up");
        var quickStart = Block(readme, "### Quick start");
        var runRegistry = setUp.Split('\n').Single(l => l.StartsWith("dotnet run --project modules/ConnectedRegistry", StringComparison.Ordinal));
        Assert.Contains("sample-image", quickStart, StringComparison.Ordinal);
        Assert.Contains("skopeo copy", quickStart, StringComparison.Ordinal);
        Assert.DoesNotContain("<", quickStart, StringComparison.Ordinal); // no placeholder to fill in

        var port = DockerRegistry.FreePort();
        var work = TempDirectory.Create("quick-start");
        try
        {
            string[] registryArgs = [.. runRegistry[(runRegistry.IndexOf(" -- ", StringComparison.Ordinal) + 4)..].Split(' ', StringSplitOptions.RemoveEmptyEntries),
                "--urls", $"http://127.0.0.1:{port}", "--metrics-urls", ""];
            await using var registry = ModuleProcess.Start(registryArgs, workingDirectory: work);
            await registry.LineAsync("Registry listening on");

            var script = DotnetRun().Replace(quickStart, ModuleCommandLine())
                .Replace("127.0.0.1:5000", $"127.0.0.1:{port}", StringComparison.Ordinal);
            var (exit, output, error) = await Tools.RunToExitAsync("bash", ["-euo", "pipefail", "-c", script], limit: TimeSpan.FromMinutes(3), workingDirectory: work);

            Assert.True(exit == 0, $"exit {exit}\n{script}\n{output}\n{error}");
            Assert.True(File.Exists(Path.Combine(work, "hello-copy", "index.json")), "the pull wrote no layout");
            Assert.Contains("\"reported\"", output, StringComparison.Ordinal); // call getStatus answered
        }
        finally
        {
            TempDirectory.Delete(work);
        }
    }

    /// <summary>The first <c>```sh</c> block after <paramref name="heading"/>.</summary>
    private static string Block(string readme, string heading)
    {
        var at = readme.IndexOf("\n" + heading + "\n", StringComparison.Ordinal);
        Assert.True(at >= 0, $"the README has no '{heading}'");
        var start = readme.IndexOf("```sh\n", at, StringComparison.Ordinal) + "```sh\n".Length;
        return readme[start..readme.IndexOf("```", start, StringComparison.Ordinal)];
    }

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "EdgeConnectedRegistry.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException("the repository root was not found above the test assembly");
    }

    /// <summary>The built module's command (its arguments follow), quoted for the quick start's shell.</summary>
    private static string ModuleCommandLine()
    {
        var (file, leading) = Tools.ModuleCommand([]);
        return string.Join(' ', leading.Prepend(file).Select(a => $"'{a}'"));
    }

    [GeneratedRegex(@"dotnet run --project modules/ConnectedRegistry( -c Release)? --")]
    private static partial Regex DotnetRun();
}
