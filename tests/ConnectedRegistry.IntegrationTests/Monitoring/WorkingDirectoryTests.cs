namespace ConnectedRegistry.IntegrationTests.Monitoring;

/// <summary>
/// The module started from a working directory with many folders, as a service started from / or a home folder
/// would be: ASP.NET's default reloading of configuration files watched the working directory recursively with
/// inotify (from / it set 44,000 watches and took 12 s to serve). The module reads its configuration files once.
/// </summary>
public sealed class WorkingDirectoryTests
{
    private const int Folders = 300;

    [Fact]
    public async Task The_module_does_not_watch_the_folders_of_its_working_directory()
    {
        var cwd = TempDirectory.Create("cwd");
        var data = TempDirectory.Create("cwd-data");
        for (var i = 0; i < Folders; i++)
        {
            Directory.CreateDirectory(Path.Combine(cwd, $"f{i / 20}", $"g{i}"));
        }

        var module = ModuleProcess.Start(
            ["--urls", "http://127.0.0.1:0", "--metrics-urls", "", "--data", data, "--desired", Path.Combine(data, "desired.json"), "--reported", Path.Combine(data, "reported.json")],
            workingDirectory: cwd);
        try
        {
            await module.LineAsync("Registry listening on");

            var watches = InotifyWatches(module.Id);
            Assert.True(watches < Folders, $"the module holds {watches} inotify watches with {Folders} folders in its working directory");
        }
        finally
        {
            await module.DisposeAsync();
            TempDirectory.Delete(cwd);
            TempDirectory.Delete(data);
        }
    }

    /// <summary>How many inotify watches the process holds, from its file descriptors' <c>fdinfo</c> (one line per watch).</summary>
    private static int InotifyWatches(int pid)
    {
        var count = 0;
        foreach (var info in Directory.EnumerateFiles($"/proc/{pid}/fdinfo"))
        {
            try
            {
                count += File.ReadLines(info).Count(l => l.StartsWith("inotify wd:", StringComparison.Ordinal));
            }
            catch (IOException)
            {
                // the descriptor closed meanwhile
            }
        }

        return count;
    }
}
