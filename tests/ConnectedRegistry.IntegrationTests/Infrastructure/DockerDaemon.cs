using System.Diagnostics;
using System.Formats.Tar;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>The test classes that drive the Docker engine share one private daemon (<see cref="DockerDaemon"/>) per test run.</summary>
[CollectionDefinition(Name)]
public sealed class DockerEngineCollection : ICollectionFixture<DockerDaemon>
{
    public const string Name = "Docker engine";
}

/// <summary>
/// A private Docker engine (Debian's <c>docker.io</c>: <c>dockerd</c>, which starts its own containerd) for the test run,
/// the client edgeAgent pulls with: data, exec root, socket and pid file in a temporary folder, <c>vfs</c> storage (no
/// mounts), no iptables and no bridge. The <c>docker</c> CLI talks to it with <c>DOCKER_HOST</c> and a temporary
/// <c>DOCKER_CONFIG</c>, so <c>docker login</c> never writes the machine's own configuration. The daemon reads a
/// registry's CA only from <c>/etc/docker/certs.d/HOST:PORT/ca.crt</c> (no option moves it for a root daemon), so
/// <see cref="TrustCa"/> writes there, in a folder named for the test's own random port, and removes it again.
/// Docker treats 127.0.0.0/8 as an insecure registry (plain HTTP allowed, TLS not verified); a TLS test therefore
/// needs an address outside it (<see cref="ApiProxy"/> listens on a non-loopback address). Needs root and the
/// <c>docker.io</c> package (<c>scripts/test.sh</c> installs it); without them the tests fail saying so.
/// </summary>
public sealed class DockerDaemon : IAsyncLifetime
{
    private const string CertsDirectory = "/etc/docker/certs.d";
    private readonly List<string> _trusted = [];
    private bool _createdCertsDirectory;
    private readonly Lock _gate = new();
    private string _root = string.Empty;
    private Process? _process;

    /// <summary>An engine inside the network namespace <paramref name="networkNamespace"/> (a second device: see <see cref="TestHost"/>).</summary>
    public static DockerDaemon InNamespace(string networkNamespace) => new() { NetworkNamespace = networkNamespace };

    /// <summary>
    /// An engine whose folder <paramref name="keptRoot"/> outlives the test run (images and build cache kept): for a
    /// developer re-running the image tests. CI never uses it.
    /// </summary>
    public static DockerDaemon Kept(string keptRoot) => new() { _keptRoot = keptRoot };

    private string? _keptRoot;

    /// <summary>The network namespace the engine and its host-network containers live in; null for the machine's own.</summary>
    public string? NetworkNamespace { get; private init; }

    public string Socket => Path.Combine(_root, "docker.sock");

    /// <summary>The client's configuration folder (<c>DOCKER_CONFIG</c>): credentials <c>docker login</c> stores.</summary>
    public string ConfigDirectory => Path.Combine(_root, "client");

    public async Task InitializeAsync()
    {
        if (Environment.UserName != "root")
        {
            throw new InvalidOperationException("the Docker engine tests start a private dockerd and must run as root (as scripts/test.sh does in CI)");
        }

        var dockerd = Which("dockerd") ?? throw new InvalidOperationException("dockerd not found: install Debian's docker.io package (scripts/test.sh installs it)");
        _ = Which("docker") ?? throw new InvalidOperationException("the docker CLI not found: install Debian's docker.io package (scripts/test.sh installs it)");

        // Unix socket paths are limited to 108 bytes, and containerd puts its socket below the exec root: keep it short.
        _root = _keptRoot ?? Path.Combine("/tmp", "ecr-dockerd-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)));
        if (_keptRoot is not null && File.Exists(Path.Combine(_root, "dockerd.pid"))
            && Directory.Exists("/proc/" + File.ReadAllText(Path.Combine(_root, "dockerd.pid")).Trim()))
        {
            throw new InvalidOperationException($"a dockerd of another test run uses {_root}; wait for that run to end");
        }

        Directory.CreateDirectory(_root);
        Directory.CreateDirectory(ConfigDirectory);
        var daemonConfig = Path.Combine(_root, "daemon.json");
        await File.WriteAllTextAsync(daemonConfig, "{}"); // not the machine's /etc/docker/daemon.json
        // nsenter enters only the network namespace: `ip netns exec` would also mount a new /sys, and with it the
        // cgroup file systems the engine needs would be gone.
        var info = new ProcessStartInfo(NetworkNamespace is null ? dockerd : "nsenter")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (NetworkNamespace is not null)
        {
            foreach (var arg in (string[])["--net=/run/netns/" + NetworkNamespace, "--", dockerd])
            {
                info.ArgumentList.Add(arg);
            }
        }

        foreach (var arg in (string[])[
            "--data-root", Path.Combine(_root, "data"), "--exec-root", Path.Combine(_root, "exec"), "-H", "unix://" + Socket,
            "--pidfile", Path.Combine(_root, "dockerd.pid"), "--config-file", daemonConfig, "--storage-driver=vfs", "--iptables=false",
            "--bridge=none", "--insecure-registry=127.0.0.0/8"])
        {
            info.ArgumentList.Add(arg);
        }

        var log = new DaemonLog();
        _process = Process.Start(info) ?? throw new InvalidOperationException("dockerd did not start");
        _process.OutputDataReceived += (_, e) => log.Add(e.Data);
        _process.ErrorDataReceived += (_, e) => log.Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, token) =>
            {
                var socket = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(Socket), token);
                return new NetworkStream(socket, ownsSocket: true);
            },
        });
        try
        {
            await Poll.UntilAsync(
                async () =>
                {
                    if (_process.HasExited)
                    {
                        throw new InvalidOperationException("dockerd exited");
                    }

                    try
                    {
                        using var ping = await http.GetAsync("http://docker/_ping");
                        return ping.IsSuccessStatusCode;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or SocketException or IOException)
                    {
                        return false;
                    }
                },
                "the private dockerd answering _ping",
                TimeSpan.FromSeconds(60));
        }
        catch (Exception ex) when (ex is InvalidOperationException or Xunit.Sdk.XunitException)
        {
            await DisposeAsync();
            throw new InvalidOperationException("the private dockerd did not come up: " + log, ex);
        }
    }

    /// <summary>Runs the docker CLI against this daemon; returns its standard output.</summary>
    public Task<string> RunAsync(params string[] args) => RunAsync(TimeSpan.FromSeconds(120), args);

    /// <summary>Runs the docker CLI against this daemon for at most <paramref name="limit"/>; returns its standard output.</summary>
    public async Task<string> RunAsync(TimeSpan limit, params string[] args)
    {
        var (exit, stdout, stderr) = await Tools.RunToExitAsync("docker", args, CliEnvironment, limit);
        return exit == 0 ? stdout : throw new InvalidOperationException($"docker {args.FirstOrDefault()} failed ({exit}): {stderr}");
    }

    /// <summary>The environment that points the docker CLI (or skopeo's docker-daemon: transport) at this daemon.</summary>
    public IReadOnlyDictionary<string, string> CliEnvironment => new Dictionary<string, string> { ["DOCKER_HOST"] = "unix://" + Socket, ["DOCKER_CONFIG"] = ConfigDirectory };

    /// <summary>The Docker Engine API of this daemon, as edgeAgent speaks it.</summary>
    public DockerEngineApi Api() => new(Socket);

    /// <summary>
    /// Makes an image without a build engine: <c>docker import</c> of a one-file tar of <paramref name="size"/> random
    /// bytes, tagged <paramref name="reference"/>. Returns the image id.
    /// </summary>
    public async Task<string> ImportImageAsync(string reference, int size = 64 * 1024)
    {
        var tar = Path.Combine(_root, Guid.NewGuid().ToString("N") + ".tar");
        try
        {
            await using (var file = File.Create(tar))
            await using (var writer = new TarWriter(file, TarEntryFormat.Pax))
            {
                var entry = new PaxTarEntry(TarEntryType.RegularFile, "payload.bin") { DataStream = new MemoryStream(RandomNumberGenerator.GetBytes(size)), Mode = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead };
                await writer.WriteEntryAsync(entry);
            }

            return (await RunAsync("import", tar, reference)).Trim();
        }
        finally
        {
            File.Delete(tar);
        }
    }

    /// <summary>The image's id (its config digest), as <c>docker image inspect</c> reports it.</summary>
    public async Task<string> ImageIdAsync(string reference) => (await RunAsync("image", "inspect", "--format", "{{.Id}}", reference)).Trim();

    /// <summary>Lets the daemon verify <paramref name="hostPort"/>'s TLS certificate with <paramref name="caPem"/>; dispose to remove it.</summary>
    public IDisposable TrustCa(string hostPort, string caPem)
    {
        var directory = Path.Combine(CertsDirectory, hostPort);
        if (Directory.Exists(directory))
        {
            throw new InvalidOperationException($"{directory} exists already; it is not this test's to overwrite");
        }

        lock (_gate)
        {
            _createdCertsDirectory |= !Directory.Exists(CertsDirectory);
        }

        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "ca.crt"), caPem);
        lock (_gate)
        {
            _trusted.Add(directory);
        }

        return new Removal(() => Untrust(directory));
    }

    public async Task DisposeAsync()
    {
        lock (_gate)
        {
            foreach (var directory in _trusted.ToList())
            {
                Untrust(directory);
            }

            if (_createdCertsDirectory && Directory.Exists(CertsDirectory) && !Directory.EnumerateFileSystemEntries(CertsDirectory).Any())
            {
                Directory.Delete(CertsDirectory);
            }
        }

        if (_process is not null)
        {
            if (!_process.HasExited)
            {
                // A graceful stop lets dockerd stop its containerd; whatever is left after 20 s is killed.
                await Tools.RunAsync("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                try
                {
                    await _process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: true);
                    await _process.WaitForExitAsync();
                }
            }

            _process.Dispose();
            _process = null;
        }

        if (_root.Length > 0 && _keptRoot is null)
        {
            // vfs needs no mounts, but the daemon may leave one below its roots (a shm, netns): never delete through it.
            foreach (var mount in File.ReadAllLines("/proc/self/mounts").Select(l => l.Split(' ')[1]).Where(m => m.StartsWith(_root + "/", StringComparison.Ordinal)).Reverse())
            {
                await Tools.RunAsync("umount", ["-l", mount]);
            }

            TempDirectory.Delete(_root);
        }
    }

    private void Untrust(string directory)
    {
        lock (_gate)
        {
            if (_trusted.Remove(directory))
            {
                TempDirectory.Delete(directory);
            }
        }
    }

    private static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':').Append("/usr/sbin")
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);

    private sealed class Removal(Action action) : IDisposable
    {
        public void Dispose() => action();
    }

    /// <summary>The daemon's last lines of output, for the message when it does not come up.</summary>
    private sealed class DaemonLog
    {
        private readonly Queue<string> _lines = new();

        public void Add(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_lines)
            {
                _lines.Enqueue(line);
                while (_lines.Count > 20)
                {
                    _lines.Dequeue();
                }
            }
        }

        public override string ToString()
        {
            lock (_lines)
            {
                return string.Join('\n', _lines);
            }
        }
    }
}
