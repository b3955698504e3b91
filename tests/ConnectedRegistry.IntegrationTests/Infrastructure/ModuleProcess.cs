using System.Collections.Concurrent;
using System.Diagnostics;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// The module's own executable running as operators run it (<c>dotnet ConnectedRegistry.dll ARGS</c>), its standard
/// output kept line by line; killed with its children when disposed.
/// </summary>
public sealed class ModuleProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ModuleProcess(Process process) => _process = process;

    /// <summary>Standard output, one entry per line, as written so far.</summary>
    public ConcurrentQueue<string> Lines { get; } = new();

    public int Id => _process.Id;

    /// <param name="environment">Variables to set besides the test process's own.</param>
    /// <param name="workingDirectory">Where it starts (the test process's own folder when null).</param>
    public static ModuleProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var (file, all) = Tools.ModuleCommand(args);
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }

        foreach (var arg in all)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var module = new ModuleProcess(Process.Start(start) ?? throw new InvalidOperationException("the module did not start"));
        module._process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                module.Lines.Enqueue(line);
            }
        };
        module._process.ErrorDataReceived += (_, _) => { };
        module._process.BeginOutputReadLine();
        module._process.BeginErrorReadLine();
        return module;
    }

    /// <summary>
    /// Runs the executable with <paramref name="args"/> to its end (killed after <paramref name="timeout"/>, 2 min by
    /// default): its exit code and what it wrote. An unhandled exception shows as exit code 134 (the runtime aborts).
    /// </summary>
    public static async Task<(int Code, string Output, string Error)> RunAsync(IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var (file, all) = Tools.ModuleCommand(args);
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in all)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("the module did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{string.Join(' ', args)}' did not end in time");
        }

        return (process.ExitCode, await output, await error);
    }

    /// <summary>The first line of standard output containing <paramref name="text"/>, waited for up to 60 s.</summary>
    public Task<string> LineAsync(string text) =>
        Poll.ForAsync(() => Lines.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)), $"a line with '{text}'", TimeSpan.FromSeconds(60));

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
