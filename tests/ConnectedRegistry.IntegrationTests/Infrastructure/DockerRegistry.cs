using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A real CNCF distribution registry (Debian's <c>docker-registry</c>, the reference implementation) on a free
/// 127.0.0.1 port with its own storage folder, with htpasswd Basic auth (or anonymous, for interoperability
/// tests). <see cref="StopAsync"/> kills it (a parent going away mid-transfer); <see cref="StartAsync"/> brings it
/// back on the same port with the same content. Dispose stops it and deletes its data.
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
        var authBlock = string.Empty;
        if (auth)
        {
            var htpasswd = Path.Combine(root, "htpasswd");
            var line = await Tools.RunAsync("htpasswd", ["-Bbn", User, Password]);
            await File.WriteAllTextAsync(htpasswd, line.Trim() + "\n");
            authBlock = $"auth:\n  htpasswd:\n    realm: test-parent\n    path: {htpasswd}\n";
        }

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
        var said = new System.Collections.Concurrent.ConcurrentQueue<string>();
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line && said.Count < 20)
            {
                said.Enqueue(line);
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        // Each probe bounded: a probe that hangs (something else answering on the port) must not outlast the wait.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        var process = _process;
        try
        {
            await Poll.UntilAsync(
                async () =>
                {
                    if (process.HasExited)
                    {
                        throw new InvalidOperationException($"docker-registry exited before it came up: {string.Join(" | ", said)}");
                    }

                    try
                    {
                        using var response = await http.GetAsync(new Uri(Endpoint, "v2/"));
                        return response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                    {
                        return false;
                    }
                },
                "docker-registry answering /v2/",
                TimeSpan.FromSeconds(60));
        }
        catch (Xunit.Sdk.XunitException e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message} at {Endpoint} (exited: {process.HasExited}; it said: {string.Join(" | ", said)})");
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
    /// <summary>A single-platform image of <paramref name="layers"/>, built in <paramref name="layout"/> and pushed as <paramref name="repository"/>:v1.</summary>
    public async Task<TestBlob> PushImageAsync(OciLayoutBuilder layout, string repository, params TestBlob[] layers)
    {
        var image = layout.Image("amd64", layers);
        var layoutTag = repository.Replace('/', '-');
        layout.Tag(image, layoutTag);
        await PushAsync(layout.Directory, layoutTag, repository, "v1");
        return image;
    }

    public Task PushAsync(string ociLayout, string layoutTag, string repository, string tag) =>
        Skopeo.CopyAsync($"oci:{ociLayout}:{layoutTag}", $"docker://{HostPort}/{repository}:{tag}", all: true, preserveDigests: false,
            extraArgs: ["--quiet", "--dest-creds", $"{User}:{Password}"]);

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
