using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using ConnectedRegistry.IntegrationTests.Twin;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A real nginx (Debian's <c>nginx-light</c>) running the IoT Edge API proxy's stock connected-registry configuration
/// (<see cref="StockServer"/>), as on a parent device: TLS on its own port with a server certificate from a test CA,
/// <c>/v2</c> and <c>/acr</c> forwarded to the registry with <c>proxy_http_version 1.1</c>, <c>X-Forwarded-Host</c> and
/// <c>X-Forwarded-Proto</c>, the stock buffers and read timeout; any other path answers nginx's own HTML 403. It listens
/// on a non-loopback address of this machine, since Docker does not verify TLS for 127.0.0.0/8. Every request is
/// written to an access log the tests read (<see cref="Requests"/>), to show what went through the proxy. Dispose stops
/// it and deletes its folder.
/// </summary>
public sealed class ApiProxy : IAsyncDisposable
{
    /// <summary>
    /// The parts of the stock API proxy configuration (the <c>proxy_config</c> the connected-registry documentation
    /// gives) that a registry's traffic meets, with its variables: <c>${NGINX_DEFAULT_PORT}</c>,
    /// <c>${CONNECTED_ACR_ROUTE_ADDRESS}</c>. Unchanged except for the certificate paths.
    /// </summary>
    public const string StockServer = """
            proxy_buffers 32 160k;
            proxy_buffer_size 160k;
            proxy_read_timeout 3600;

            server {
                listen ${NGINX_DEFAULT_PORT} ssl default_server;

                chunked_transfer_encoding on;

                ssl_certificate        server.crt;
                ssl_certificate_key    server.key;

                location /v2 {
                    client_max_body_size 1000G;
                    proxy_http_version 1.1;
                    proxy_pass http://${CONNECTED_ACR_ROUTE_ADDRESS};
                    proxy_set_header X-Forwarded-Host $http_host;
                    proxy_set_header X-Forwarded-Proto $scheme;
                }

                location /acr {
                    client_max_body_size 10M;
                    proxy_http_version 1.1;
                    proxy_pass http://${CONNECTED_ACR_ROUTE_ADDRESS};
                    proxy_set_header X-Forwarded-Host $http_host;
                    proxy_set_header X-Forwarded-Proto $scheme;
                }

                location / {
                    return 403;
                }
            }
        """;

    private readonly string _root;
    private readonly Process _process;

    private ApiProxy(string root, Process process, IPAddress address, int port, string caPem)
    {
        _root = root;
        _process = process;
        Address = address;
        Port = port;
        CaPem = caPem;
        CaFile = Path.Combine(root, "ca.crt");
    }

    public IPAddress Address { get; }

    public int Port { get; }

    /// <summary>host:port, as docker and skopeo want it.</summary>
    public string HostPort => $"{Address}:{Port}";

    public Uri Endpoint => new($"https://{HostPort}/");

    /// <summary>The test CA's certificate (PEM) that issued the proxy's server certificate.</summary>
    public string CaPem { get; }

    /// <summary><see cref="CaPem"/> in a file (for <c>PARENT_CA_FILE</c>, <c>--cert-dir</c>).</summary>
    public string CaFile { get; }

    /// <summary>A folder holding <c>ca.crt</c> alone, as skopeo's <c>--cert-dir</c> wants it (it reads any <c>*.key</c> there as a client key).</summary>
    public string CertDirectory => Path.Combine(_root, "client-certs");

    /// <param name="upstream">host:port of the registry (<c>CONNECTED_ACR_ROUTE_ADDRESS</c>).</param>
    /// <param name="server">The server block (and the http-level lines before it); the stock one by default.</param>
    /// <param name="port">The port (<c>NGINX_DEFAULT_PORT</c>): a free one by default; 8000 where a device must find it as the manifests say.</param>
    public static async Task<ApiProxy> StartAsync(string upstream, string server = StockServer, int? port = null)
    {
        var nginx = new[] { "/usr/sbin/nginx", "/usr/bin/nginx" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("nginx not found: install Debian's nginx-light package (scripts/test.sh installs it)");
        var address = ExternalAddress();
        var listenPort = port ?? FreePort(address);
        var root = TempDirectory.Create("api-proxy");
        var pki = TestPki.Create("Test Edge CA for the API proxy");
        var (certificate, key) = pki.IssueServer("parent-device", DateTimeOffset.UtcNow.AddDays(1), address);
        await File.WriteAllTextAsync(Path.Combine(root, "server.crt"), certificate);
        await File.WriteAllTextAsync(Path.Combine(root, "server.key"), key);
        await File.WriteAllTextAsync(Path.Combine(root, "ca.crt"), pki.CaPem);
        await File.WriteAllTextAsync(Path.Combine(Directory.CreateDirectory(Path.Combine(root, "client-certs")).FullName, "ca.crt"), pki.CaPem);
        var temp = Directory.CreateDirectory(Path.Combine(root, "temp"));
        if (!OperatingSystem.IsWindows())
        {
            // nginx's workers run as an unprivileged user when started as root: they spool bodies here.
            temp.UnixFileMode = (UnixFileMode)0x1FF;
        }
        var stock = server.Replace("${NGINX_DEFAULT_PORT}", $"{address}:{listenPort}", StringComparison.Ordinal)
            .Replace("${CONNECTED_ACR_ROUTE_ADDRESS}", upstream, StringComparison.Ordinal);
        await File.WriteAllTextAsync(Path.Combine(root, "nginx.conf"), $$"""
            daemon off;
            worker_processes 1;
            pid {{root}}/nginx.pid;
            error_log {{root}}/error.log warn;
            events { worker_connections 512; }
            http {
                client_body_temp_path {{temp.FullName}}/body;
                proxy_temp_path {{temp.FullName}}/proxy;
                fastcgi_temp_path {{temp.FullName}}/fastcgi;
                uwsgi_temp_path {{temp.FullName}}/uwsgi;
                scgi_temp_path {{temp.FullName}}/scgi;
                log_format requests '$request_method $uri $status';
                access_log {{root}}/access.log requests;
            {{stock}}
            }
            """);

        var info = new ProcessStartInfo(nginx) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])["-p", root + "/", "-c", Path.Combine(root, "nginx.conf"), "-e", Path.Combine(root, "error.log")])
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("nginx did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var proxy = new ApiProxy(root, process, address, listenPort, pki.CaPem);
        try
        {
            await Poll.UntilAsync(
                async () =>
                {
                    if (process.HasExited)
                    {
                        throw new InvalidOperationException("nginx exited");
                    }

                    try
                    {
                        using var client = new TcpClient();
                        await client.ConnectAsync(address, listenPort);
                        return true;
                    }
                    catch (SocketException)
                    {
                        return false;
                    }
                },
                "nginx accepting connections");
            return proxy;
        }
        catch (Exception ex) when (ex is InvalidOperationException or Xunit.Sdk.XunitException)
        {
            var log = File.Exists(Path.Combine(root, "error.log")) ? await File.ReadAllTextAsync(Path.Combine(root, "error.log")) : string.Empty;
            await proxy.DisposeAsync();
            throw new InvalidOperationException("nginx did not come up: " + log, ex);
        }
    }

    /// <summary>Requests nginx has logged so far, as <c>METHOD PATH STATUS</c>.</summary>
    public IReadOnlyList<string> Requests()
    {
        var path = Path.Combine(_root, "access.log");
        if (!File.Exists(path))
        {
            return [];
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>An HTTP client that trusts the proxy's test CA.</summary>
    public HttpClient CreateClient()
    {
        var ca = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(System.Text.Encoding.ASCII.GetBytes(CaPem));
        var handler = new SocketsHttpHandler();
        handler.SslOptions.CertificateChainPolicy = new System.Security.Cryptography.X509Certificates.X509ChainPolicy
        {
            TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust,
            RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
        };
        handler.SslOptions.CertificateChainPolicy.CustomTrustStore.Add(ca);
        return new HttpClient(handler) { BaseAddress = Endpoint };
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true); // the master and its worker
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        TempDirectory.Delete(_root);
    }

    /// <summary>
    /// An IPv4 address of this machine outside 127.0.0.0/8 (the first of an interface that is up), so that Docker
    /// verifies the proxy's certificate instead of treating it as an insecure registry.
    /// </summary>
    public static IPAddress ExternalAddress() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(i => i.OperationalStatus == OperationalStatus.Up && i.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
        ?? throw new InvalidOperationException("no IPv4 address outside 127.0.0.0/8 on this machine: the API proxy tests need one for Docker to verify TLS");

    private static int FreePort(IPAddress address)
    {
        using var listener = new TcpListener(address, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
