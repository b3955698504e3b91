using System.Diagnostics;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>Command-line tools the tests drive (skopeo through <see cref="Skopeo"/>, htpasswd), each bounded in time.</summary>
public static class Tools
{
    /// <summary>Runs a tool to completion; returns its standard output, throws with its standard error on failure.</summary>
    /// <param name="environment">Variables to set for the tool, besides the test process's own.</param>
    public static async Task<string> RunAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
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
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException(file + " timed out");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} failed ({process.ExitCode}): {await stderr}");
        }

        return await stdout;
    }
}
