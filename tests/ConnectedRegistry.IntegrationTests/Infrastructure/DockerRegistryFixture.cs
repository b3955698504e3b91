using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A real CNCF distribution registry (Debian's <c>docker-registry</c>) on a free 127.0.0.1 port, with htpasswd
/// Basic auth and its own storage folder. <see cref="StopAsync"/> kills it (a parent going away mid-transfer);
/// <see cref="StartAsync"/> brings it back on the same port with the same content.
/// </summary>
public sealed class DockerRegistry : IAsyncDisposable
{
    public const string User = "sync-user";
    public const string Password = "sync-Passw0rd";
    private readonly string _root;
    private readonly string _config;
    private Process? _process;

    private DockerRegistry(string root, int port)
    {
        _root = root;
        Port = port;
        _config = Path.Combine(root, "config.yml");
    }

    public int Port { get; }

    public string HostPort => $"127.0.0.1:{Port}";

    public Uri Endpoint => new($"http://{HostPort}/");

    public string StorageRoot => Path.Combine(_root, "storage");

    public static async Task<DockerRegistry> StartNewAsync(bool auth = true)
    {
        var root = TempDirectory.Create("docker-registry");
        var registry = new DockerRegistry(root, FreePort());
        var htpasswd = Path.Combine(root, "htpasswd");
        var line = await Tools.RunAsync("htpasswd", ["-Bbn", User, Password]);
        await File.WriteAllTextAsync(htpasswd, line.Trim() + "\n");
        var authBlock = auth ? $"auth:\n  htpasswd:\n    realm: test-parent\n    path: {htpasswd}\n" : string.Empty;
        await File.WriteAllTextAsync(registry._config, $"""
            version: 0.1
            log:
              level: error
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: {registry.StorageRoot}
              delete:
                enabled: true
            http:
              addr: {registry.HostPort}
            {authBlock}
            """);
        await registry.StartAsync();
        return registry;
    }

    public async Task StartAsync()
    {
        if (_process is { HasExited: false })
        {
            return;
        }

        var info = new ProcessStartInfo("docker-registry")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("serve");
        info.ArgumentList.Add(_config);
        _process = Process.Start(info) ?? throw new InvalidOperationException("docker-registry did not start");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(new Uri(Endpoint, "v2/"));
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
            }

            if (_process.HasExited || DateTime.UtcNow >= deadline)
            {
                throw new InvalidOperationException("docker-registry did not come up");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Kills the registry process (no graceful shutdown: connections break mid-transfer).</summary>
    public async Task StopAsync()
    {
        if (_process is null)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    /// <summary>Copies an OCI layout's image (all platforms) into <paramref name="repository"/>:<paramref name="tag"/> with skopeo.</summary>
    public Task PushAsync(string ociLayout, string layoutTag, string repository, string tag) =>
        Tools.RunAsync("skopeo", ["copy", "--all", "--quiet", "--dest-creds", $"{User}:{Password}", "--dest-tls-verify=false",
            $"oci:{ociLayout}:{layoutTag}", $"docker://{HostPort}/{repository}:{tag}"]);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        TempDirectory.Delete(_root);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

public static class Tools
{
    /// <summary>Runs a tool to completion; returns its standard output, throws with its standard error on failure.</summary>
    public static async Task<string> RunAsync(string file, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
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
