using System.Security.Authentication;
using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using ConnectedRegistry.Tls;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.IntegrationTests.Twin;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Tls;

/// <summary>
/// Standalone HTTPS: <c>--tls-cert</c>/<c>--tls-key</c> PEM files (server certificate + intermediate) on real
/// Kestrel, verified by clients that trust only the root CA: HttpClient and skopeo.
/// </summary>
public sealed class HttpsWithCertificateFilesTests : IAsyncLifetime
{
    private static readonly Lazy<TestPki> OwnerRoot = new(() => TestPki.Create("Test Owner Root CA"));

    private readonly List<RegistryInstance> _registries = [];
    private string _work = null!;
    private TestPki _pki = null!;

    private string CertFile => Path.Combine(_work, "server.crt");

    private string KeyFile => Path.Combine(_work, "server.key");

    public Task InitializeAsync()
    {
        _work = TempDirectory.Create("tls-files");
        _pki = OwnerRoot.Value.IssueIntermediate("Test Device CA");
        Write(_pki);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var registry in _registries)
        {
            await registry.DisposeAsync();
            registry.DeleteData();
        }

        TempDirectory.Delete(_work);
    }

    private void Write(TestPki pki, bool certificate = true, bool key = true)
    {
        if (certificate)
        {
            File.WriteAllText(CertFile, pki.ServerChainPem);
        }

        if (key)
        {
            File.WriteAllText(KeyFile, pki.ServerKeyPem);
        }
    }

    private async Task<RegistryInstance> StartAsync(string urls = "https://127.0.0.1:0", params string[] extra)
    {
        var registry = await RegistryInstance.StartAsync(extraArgs: ["--urls", urls, "--tls-cert", CertFile, "--tls-key", KeyFile, .. extra]);
        _registries.Add(registry);
        return registry;
    }

    [Fact]
    public async Task A_client_that_trusts_only_the_root_ca_gets_the_registry_over_https_with_the_chain_from_the_file()
    {
        var registry = await StartAsync("http://127.0.0.1:0;https://127.0.0.1:0");

        Assert.Equal("https", registry.BaseAddress.Scheme);
        var served = await TlsClient.ServedCertificateAsync(registry.BaseAddress, OwnerRoot.Value.Root);
        Assert.Equal(_pki.Server.Thumbprint, served.Thumbprint);

        // The login server is the HTTPS address, reported as such.
        var login = registry.App.Services.GetRequiredService<ModuleState>().Snapshot().LoginServer;
        Assert.Equal(new LoginServerStatus(registry.HostPort, "Enabled"), login);

        // A client that does not trust the CA is refused.
        using var untrusting = new HttpClient { BaseAddress = registry.BaseAddress };
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => untrusting.GetAsync("/v2/"));
        Assert.IsType<AuthenticationException>(error.InnerException);
    }

    [Fact]
    public async Task Renewed_files_are_served_without_a_restart_and_a_half_written_pair_keeps_the_old_certificate()
    {
        var registry = await StartAsync(extra: ["--tls-reload-interval", "00:00:00"]);
        var state = registry.App.Services.GetRequiredService<ModuleState>();
        Assert.Equal(_pki.Server.Thumbprint, (await TlsClient.ServedCertificateAsync(registry.BaseAddress, OwnerRoot.Value.Root)).Thumbprint);

        // A renewal tool has written the new certificate but not yet its key.
        var renewed = _pki.WithNewServer();
        Write(renewed, key: false);
        Assert.Equal(_pki.Server.Thumbprint, (await TlsClient.ServedCertificateAsync(registry.BaseAddress, OwnerRoot.Value.Root)).Thumbprint);
        var detail = Assert.Single(state.Snapshot().StatusDetails, d => d.Code == TlsCertificateProvider.ReloadStatusCode);
        Assert.Contains("does not belong to the certificate", detail.Description, StringComparison.Ordinal);

        Write(renewed, certificate: false);
        Assert.Equal(renewed.Server.Thumbprint, (await TlsClient.ServedCertificateAsync(registry.BaseAddress, OwnerRoot.Value.Root)).Thumbprint);
        Assert.DoesNotContain(state.Snapshot().StatusDetails, d => d.Code == TlsCertificateProvider.ReloadStatusCode);
    }

    [Fact]
    public async Task A_certificate_near_its_end_is_reported_until_the_files_are_replaced()
    {
        // 5 minutes old, 1 minute left: under the 20% of its lifetime at which a workload certificate is renewed.
        var (shortPem, shortKey) = OwnerRoot.Value.IssueServer("localhost", DateTimeOffset.UtcNow.AddMinutes(1));
        File.WriteAllText(CertFile, shortPem);
        File.WriteAllText(KeyFile, shortKey);
        var registry = await StartAsync(extra: ["--tls-reload-interval", "00:00:00"]);
        var state = registry.App.Services.GetRequiredService<ModuleState>();

        var detail = Assert.Single(state.Snapshot().StatusDetails, d => d.Code == TlsCertificateProvider.ExpiryStatusCode);
        Assert.Equal("Warning", detail.Type);
        Assert.StartsWith("The TLS certificate from --tls-cert (REGISTRY_TLS_CERT) (CN=localhost) expires at ", detail.Description, StringComparison.Ordinal);

        Write(_pki);
        var byName = new Uri($"https://localhost:{registry.BaseAddress.Port}");
        Assert.Equal(_pki.Server.Thumbprint, (await TlsClient.ServedCertificateAsync(byName, OwnerRoot.Value.Root)).Thumbprint);
        Assert.DoesNotContain(state.Snapshot().StatusDetails, d => d.Code == TlsCertificateProvider.ExpiryStatusCode);
    }

    [Fact]
    public async Task Skopeo_pushes_and_pulls_verifying_the_registry_against_a_cert_dir_holding_only_the_root_ca()
    {
        var registry = await StartAsync();
        var certDir = Directory.CreateDirectory(Path.Combine(_work, "certs.d")).FullName;
        File.WriteAllText(Path.Combine(certDir, "ca.crt"), OwnerRoot.Value.CaPem);
        var image = TestContent.Image("tls-skopeo", layers: 2, layerSize: 100_000);
        var source = new OciLayoutBuilder(Path.Combine(_work, "src"));
        source.AddImage(image, "v1");
        var target = $"docker://{registry.HostPort}/secure/app:v1";

        await Skopeo.RunAsync("copy", "--preserve-digests", "--dest-cert-dir", certDir, "--dest-tls-verify=true", $"oci:{source.Directory}:v1", target);

        var pulled = new OciLayoutBuilder(Path.Combine(_work, "pulled"));
        await Skopeo.RunAsync("copy", "--preserve-digests", "--src-cert-dir", certDir, "--src-tls-verify=true", target, $"oci:{pulled.Directory}:v1");
        Assert.Equal(image.Manifest.Bytes, pulled.ReadBlob(image.Manifest.Digest));
        foreach (var blob in image.Blobs)
        {
            Assert.Equal(blob.Bytes, pulled.ReadBlob(blob.Digest));
        }

        // Without the CA skopeo refuses the registry.
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => Skopeo.RunAsync("inspect", "--tls-verify=true", "--raw", target));
        Assert.Contains("certificate", refused.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_child_registry_syncs_from_an_https_parent_when_given_the_root_ca_and_not_without_it()
    {
        var parent = await StartAsync();
        var image = TestContent.Image("tls-parent", layers: 2, layerSize: 50_000);
        using (var client = TlsClient.TrustingOnly(OwnerRoot.Value.Root, parent.BaseAddress))
        {
            await client.PushImageAsync("secure/app", "v1", image);
        }

        var rootFile = Path.Combine(_work, "root.crt");
        File.WriteAllText(rootFile, OwnerRoot.Value.CaPem);
        var settings = new RegistrySettings
        {
            Name = "edge-child",
            Mode = RegistryMode.ReadOnly,
            Parent = new ParentSettings { Endpoint = parent.BaseAddress },
            Sync = new SyncSettings { Schedule = "0 0 30 2 *", Window = TimeSpan.FromHours(1), Repositories = ["secure/app"] },
        };

        var trusting = await StartChildAsync(settings, ["--parent-ca-file", rootFile]);
        await trusting.App.Services.GetRequiredService<ParentSync>().RunAsync(settings, default);
        Assert.Equal(image.Manifest.Digest, trusting.App.Services.GetRequiredService<RegistryStore>().GetManifest("secure/app", "v1")!.Digest);

        var untrusting = await StartChildAsync(settings, fast: true);
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => untrusting.App.Services.GetRequiredService<ParentSync>().RunAsync(settings, default));
        Assert.Contains("certificate", refused.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.Null(untrusting.App.Services.GetRequiredService<RegistryStore>().GetManifest("secure/app", "v1"));
    }

    private async Task<RegistryInstance> StartChildAsync(RegistrySettings settings, string[]? args = null, bool fast = false)
    {
        var child = await RegistryInstance.StartAsync(extraArgs: args, configure: b =>
        {
            b.Services.AddSingleton(new SyncEnvironment(_ => null));
            if (fast)
            {
                b.Services.AddSingleton(SyncHarness.FastOptions); // short retries: the refusal is certain
            }
        });
        _registries.Add(child);
        child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(settings);
        return child;
    }

    public static TheoryData<string, string> StartupErrors => new()
    {
        { "missing-cert", "--tls-cert (REGISTRY_TLS_CERT): the file '" },
        { "garbage-cert", "--tls-cert (REGISTRY_TLS_CERT): '" },
        { "mismatched-key", "--tls-key (REGISTRY_TLS_KEY): the private key in '" },
        { "no-key-in-key-file", "holds no readable unencrypted PEM private key" },
        { "cert-without-key", "--tls-cert (REGISTRY_TLS_CERT) is set but --tls-key (REGISTRY_TLS_KEY) is missing" },
        { "https-without-cert", "--urls (ASPNETCORE_URLS) has an https:// address (https://127.0.0.1:0) but no certificate" },
        { "cert-without-https", "is set but --urls (ASPNETCORE_URLS) has no https:// address" },
        { "workload-outside-iot-edge", "--tls (REGISTRY_TLS)=workload needs the IoT Edge workload API" },
        { "unknown-mode", "--tls (REGISTRY_TLS) must be 'workload'" },
    };

    [Theory]
    [MemberData(nameof(StartupErrors))]
    public async Task A_bad_tls_setting_stops_the_start_with_an_error_naming_the_option(string setting, string expected)
    {
        var missing = Path.Combine(_work, "missing.crt");
        var other = Path.Combine(_work, "other.key");
        File.WriteAllText(other, OwnerRoot.Value.WithNewServer().ServerKeyPem);
        var garbage = Path.Combine(_work, "garbage.crt");
        File.WriteAllText(garbage, "not a certificate");
        string[] args = setting switch
        {
            "missing-cert" => ["--urls", "https://127.0.0.1:0", "--tls-cert", missing, "--tls-key", KeyFile],
            "garbage-cert" => ["--urls", "https://127.0.0.1:0", "--tls-cert", garbage, "--tls-key", KeyFile],
            "mismatched-key" => ["--urls", "https://127.0.0.1:0", "--tls-cert", CertFile, "--tls-key", other],
            "no-key-in-key-file" => ["--urls", "https://127.0.0.1:0", "--tls-cert", CertFile, "--tls-key", CertFile],
            "cert-without-key" => ["--urls", "https://127.0.0.1:0", "--tls-cert", CertFile],
            "https-without-cert" => ["--urls", "https://127.0.0.1:0"],
            "cert-without-https" => ["--tls-cert", CertFile, "--tls-key", KeyFile],
            "workload-outside-iot-edge" => ["--urls", "https://127.0.0.1:0", "--tls", "workload"],
            "unknown-mode" => ["--urls", "https://127.0.0.1:0", "--tls", "acme"],
            _ => throw new ArgumentOutOfRangeException(nameof(setting)),
        };
        var data = TempDirectory.Create("tls-error");
        try
        {
            var error = await Assert.ThrowsAnyAsync<StartupException>(() => RegistryInstance.StartAsync(data, args));
            Assert.Contains(expected, error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("PRIVATE KEY", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            TempDirectory.Delete(data);
        }
    }
}
