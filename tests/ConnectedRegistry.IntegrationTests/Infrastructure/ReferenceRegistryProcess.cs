using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// Debian's <c>docker-registry</c> (CNCF distribution, the reference implementation) on a free loopback port
/// with its own storage folder, for interoperability tests. Dispose stops it and deletes its data.
/// </summary>
public sealed class ReferenceRegistryProcess : IDisposable
{
    private readonly Process _process;
    private readonly string _root;

    private ReferenceRegistryProcess(Process process, string root, int port)
    {
        _process = process;
        _root = root;
        HostPort = $"127.0.0.1:{port}";
    }

    /// <summary>host:port, as skopeo wants it.</summary>
    public string HostPort { get; }

    public static async Task<ReferenceRegistryProcess> StartAsync()
    {
        var root = TempDirectory.Create("docker-registry");
        var port = FreePort();
        var config = Path.Combine(root, "config.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: {Path.Combine(root, "data")}
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{port}
            """);
        var start = new ProcessStartInfo("docker-registry") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("serve");
        start.ArgumentList.Add(config);
        var process = Process.Start(start) ?? throw new InvalidOperationException("docker-registry did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var registry = new ReferenceRegistryProcess(process, root, port);
        using var client = new HttpClient { BaseAddress = new Uri($"http://{registry.HostPort}"), Timeout = TimeSpan.FromSeconds(2) };
        for (var attempt = 0; attempt < 100; attempt++)
        {
            try
            {
                if ((await client.GetAsync("/v2/")).StatusCode == HttpStatusCode.OK)
                {
                    return registry;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        registry.Dispose();
        throw new TimeoutException("docker-registry did not answer");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        _process.Dispose();
        TempDirectory.Delete(_root);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
