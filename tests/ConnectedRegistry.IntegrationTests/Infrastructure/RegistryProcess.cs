using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// The built registry (ConnectedRegistry.dll, copied next to the test assembly) running as a child process,
/// so that a test can kill it with SIGKILL at any instant.
/// </summary>
public sealed partial class RegistryProcess : IDisposable
{
    private readonly Process _process;

    private RegistryProcess(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    [GeneratedRegex(@"Registry listening on (?<url>http://[^\s,]+)")]
    private static partial Regex ListeningLine();

    /// <param name="extraArgs">More command-line options (e.g. <c>--gc-grace 00:00:00</c>).</param>
    public static async Task<RegistryProcess> StartAsync(string dataRoot, IReadOnlyList<string>? extraArgs = null)
    {
        var desired = Path.Combine(dataRoot, "twin", "desired.json");
        var (host, args) = Tools.ModuleCommand(new[] { "--urls", "http://127.0.0.1:0", "--data", dataRoot, "--desired", desired, "--reported", Path.Combine(dataRoot, "twin", "reported.json") }.Concat(extraArgs ?? []));
        var start = new ProcessStartInfo(host)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        RegistryInstance.WriteOpenDesired(desired); // an open registry; without a desired document it answers 503
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Logging__LogLevel__ConnectedRegistry"] = "Information";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        var process = Process.Start(start) ?? throw new InvalidOperationException("registry process did not start");
        var address = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && ListeningLine().Match(line) is { Success: true } match)
            {
                address.TrySetResult(new Uri(match.Groups["url"].Value));
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var started = await Task.WhenAny(address.Task, Task.Delay(TimeSpan.FromSeconds(30)));
        if (started != address.Task)
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw new TimeoutException("registry process did not report its address");
        }

        return new RegistryProcess(process, await address.Task);
    }

    /// <summary>SIGKILL: no shutdown code runs, like a power cut for the process.</summary>
    public void KillHard()
    {
        _process.Kill(entireProcessTree: false);
        _process.WaitForExit(10_000);
    }

    public void Dispose()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            KillHard();
        }

        _process.Dispose();
    }
}
