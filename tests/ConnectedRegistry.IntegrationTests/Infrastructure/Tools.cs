using System.Diagnostics;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>Command-line tools the tests drive (skopeo through <see cref="Skopeo"/>, htpasswd), each bounded in time.</summary>
public static class Tools
{
    /// <summary>Runs a tool to completion; returns its standard output, throws with its standard error on failure.</summary>
    /// <param name="environment">Variables to set for the tool, besides the test process's own.</param>
    /// <param name="limit">How long it may take (default 120 s).</param>
    public static async Task<string> RunAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? limit = null)
    {
        var (exit, stdout, stderr) = await RunToExitAsync(file, args, environment, limit);
        if (exit != 0)
        {
            throw new InvalidOperationException($"{file} failed ({exit}): {stderr}");
        }

        return stdout;
    }

    /// <summary>Runs a program to completion, whatever its exit code (at most <paramref name="limit"/>, default 120 s).</summary>
    public static async Task<(int Exit, string StandardOutput, string StandardError)> RunToExitAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? limit = null,
        string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null)
        {
            info.WorkingDirectory = workingDirectory;
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException(file + " did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(limit ?? TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException(file + " timed out");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>The .NET host that runs the module's own executable (<c>dotnet ConnectedRegistry.dll ...</c>).</summary>
    public static string DotnetHost => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    /// <summary>
    /// The command line that runs the module as a process with <paramref name="args"/>: <c>dotnet ConnectedRegistry.dll
    /// ARGS</c> (the build next to the test assembly), or the executable <c>ECR_TEST_MODULE_BIN</c> names, such as the
    /// native one the amd64 image ships (<c>dotnet publish modules/ConnectedRegistry -c Release -p:PublishProfile=aot</c>).
    /// </summary>
    public static (string File, string[] Args) ModuleCommand(IEnumerable<string> args) =>
        Environment.GetEnvironmentVariable("ECR_TEST_MODULE_BIN") is { Length: > 0 } native
            ? (native, [.. args])
            : (DotnetHost, [Path.Combine(AppContext.BaseDirectory, "ConnectedRegistry.dll"), .. args]);

    /// <summary>Runs the module with <paramref name="args"/> to its end (see <see cref="RunToExitAsync"/>).</summary>
    public static Task<(int Exit, string StandardOutput, string StandardError)> RunModuleAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? limit = null, string? workingDirectory = null)
    {
        var (file, all) = ModuleCommand(args);
        return RunToExitAsync(file, all, environment, limit, workingDirectory);
    }
}
