using System.Net;
using System.Net.Sockets;

namespace ConnectedRegistry.IntegrationTests.Monitoring;

/// <summary>
/// The module started as operators start it, with a setting it cannot start with: a port another process holds.
/// It must say so in one line and exit with code 2, not die of an unhandled exception (a stack trace and SIGABRT).
/// </summary>
public sealed class StartupErrorTests
{
    [Theory]
    [InlineData("--metrics-urls")]
    [InlineData("--urls")]
    public async Task A_port_in_use_ends_the_module_with_one_line_naming_the_option_and_exit_code_2(string option)
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var busy = $"http://127.0.0.1:{((IPEndPoint)holder.LocalEndpoint).Port}";
        var data = TempDirectory.Create("startup-error");
        try
        {
            var args = new List<string> { "--data", data, "--desired", Path.Combine(data, "desired.json"), "--reported", Path.Combine(data, "reported.json") };
            args.AddRange(option == "--urls" ? ["--urls", busy, "--metrics-urls", ""] : ["--urls", "http://127.0.0.1:0", "--metrics-urls", busy]);
            var (exit, _, stderr) = await Tools.RunToExitAsync(Tools.DotnetHost, [Path.Combine(AppContext.BaseDirectory, "ConnectedRegistry.dll"), .. args], limit: TimeSpan.FromSeconds(60));

            Assert.Equal(2, exit);
            Assert.DoesNotContain("Unhandled exception", stderr, StringComparison.Ordinal);
            var error = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), l => l.StartsWith("error:", StringComparison.Ordinal));
            Assert.Contains(option, error, StringComparison.Ordinal);
            Assert.Contains(busy, error, StringComparison.Ordinal);
        }
        finally
        {
            TempDirectory.Delete(data);
        }
    }
}
