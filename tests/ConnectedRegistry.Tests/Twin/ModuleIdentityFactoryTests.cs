using System.Text;
using ConnectedRegistry.Identity;
using ConnectedRegistry.Twin;

namespace ConnectedRegistry.Tests.Twin;

public class ModuleIdentityFactoryTests
{
    private static readonly string Key = Convert.ToBase64String(Encoding.UTF8.GetBytes("0123456789abcdef0123456789abcdef"));

    private static ModuleEnvironment Env(params (string Name, string Value)[] values) =>
        new(values.ToDictionary(v => v.Name, v => v.Value, StringComparer.Ordinal));

    private static (string, string)[] EdgeVariables() =>
    [
        ("IOTEDGE_WORKLOADURI", "unix:///var/run/iotedge/workload.sock"),
        ("IOTEDGE_DEVICEID", "edge-device"),
        ("IOTEDGE_MODULEID", "ConnectedRegistry"),
        ("IOTEDGE_IOTHUBHOSTNAME", "hub.example.net"),
        ("IOTEDGE_MODULEGENERATIONID", "gen1"),
        ("IOTEDGE_AUTHSCHEME", "sasToken"),
        ("IOTEDGE_GATEWAYHOSTNAME", "edge-gateway"),
    ];

    [Fact]
    public void No_identity_variables_means_standalone()
    {
        Assert.Null(ModuleIdentityFactory.Create(Env(("PATH", "/bin"), ("IOTEDGE_APIVERSION", "2018-06-28")), TimeProvider.System));
        Assert.False(ModuleIdentityFactory.IsConfigured(Env()));
    }

    [Fact]
    public void The_iot_edge_variables_give_the_identity()
    {
        var identity = ModuleIdentityFactory.Create(Env(EdgeVariables()), TimeProvider.System)!;

        Assert.Equal("hub.example.net", identity.IotHubHostName);
        Assert.Equal("edge-device", identity.DeviceId);
        Assert.Equal("ConnectedRegistry", identity.ModuleId);
        Assert.Equal("edge-gateway", identity.ConnectHost);
        Assert.IsType<WorkloadSasSigner>(identity.Signer);
    }

    [Theory]
    [InlineData("IOTEDGE_DEVICEID")]
    [InlineData("IOTEDGE_MODULEID")]
    [InlineData("IOTEDGE_IOTHUBHOSTNAME")]
    [InlineData("IOTEDGE_MODULEGENERATIONID")]
    [InlineData("IOTEDGE_AUTHSCHEME")]
    public void A_missing_iot_edge_variable_is_a_start_up_error_naming_it(string missing)
    {
        var env = Env([.. EdgeVariables().Where(v => v.Item1 != missing)]);
        var error = Assert.Throws<ModuleConfigurationException>(() => ModuleIdentityFactory.Create(env, TimeProvider.System));
        Assert.StartsWith($"The IoT Edge environment variable {missing} is missing", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("IOTEDGE_AUTHSCHEME", "X509", "IOTEDGE_AUTHSCHEME must be SasToken, got 'X509'.")]
    [InlineData("IOTEDGE_WORKLOADURI", "tcp://x", "IOTEDGE_WORKLOADURI must be a unix:// or http:// URI, got 'tcp://x'.")]
    [InlineData("IOTEDGE_GATEWAYHOSTNAME", "bad host!", "IOTEDGE_GATEWAYHOSTNAME must be a host name, got 'bad host!'.")]
    public void A_malformed_iot_edge_variable_is_a_start_up_error_naming_it(string name, string value, string message)
    {
        var env = Env([.. EdgeVariables().Where(v => v.Item1 != name), (name, value)]);
        Assert.Equal(message, Assert.Throws<ModuleConfigurationException>(() => ModuleIdentityFactory.Create(env, TimeProvider.System)).Message);
    }

    [Fact]
    public void A_connection_string_wins_over_iot_edge_variables()
    {
        var env = Env([.. EdgeVariables(), ("EdgeHubConnectionString", $"HostName=other-hub.example.net;DeviceId=dev;ModuleId=mod;SharedAccessKey={Key};GatewayHostName=gw.local")]);

        var identity = ModuleIdentityFactory.Create(env, TimeProvider.System)!;

        Assert.Equal("other-hub.example.net", identity.IotHubHostName);
        Assert.Equal("dev", identity.DeviceId);
        Assert.Equal("mod", identity.ModuleId);
        Assert.Equal("gw.local", identity.ConnectHost);
        Assert.Equal("EdgeHubConnectionString", identity.Source);
        Assert.IsType<LocalSasSigner>(identity.Signer);
    }

    [Theory]
    [InlineData("HostName=h;DeviceId=d;SharedAccessKey=KEY", "IotHubConnectionString has no ModuleId.")]
    [InlineData("HostName=h;ModuleId=m;DeviceId=d", "IotHubConnectionString has no SharedAccessKey.")]
    [InlineData("HostName=h;DeviceId=d;ModuleId=m;SharedAccessKey=not*base64", "IotHubConnectionString has a SharedAccessKey that is not base64.")]
    [InlineData("HostName=h;DeviceId=d;ModuleId=m;SharedAccessSignature=SharedAccessSignature sr=x", "IotHubConnectionString holds a SharedAccessSignature; this module needs a SharedAccessKey so that it can renew its tokens.")]
    [InlineData("HostName=h;garbage;SharedAccessKey=KEY", "IotHubConnectionString is malformed: every part must be Name=Value.")]
    public void A_malformed_connection_string_is_a_start_up_error_that_names_it_without_the_key(string connectionString, string message)
    {
        var env = Env(("IotHubConnectionString", connectionString.Replace("KEY", Key, StringComparison.Ordinal)));
        var error = Assert.Throws<ModuleConfigurationException>(() => ModuleIdentityFactory.Create(env, TimeProvider.System));
        Assert.Equal(message, error.Message);
        Assert.DoesNotContain(Key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unreadable_ca_certificate_file_is_a_start_up_error_naming_it()
    {
        var env = Env(("EdgeHubConnectionString", $"HostName=h;DeviceId=d;ModuleId=m;SharedAccessKey={Key}"), ("EdgeModuleCACertificateFile", Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), "ca.pem")));
        var error = Assert.Throws<ModuleConfigurationException>(() => ModuleIdentityFactory.Create(env, TimeProvider.System));
        Assert.StartsWith("EdgeModuleCACertificateFile could not be read as PEM certificates", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_identity_source_reads_the_environment_once_and_hands_every_user_the_same_identity()
    {
        using var source = new ModuleIdentitySource(Env(EdgeVariables()), TimeProvider.System);

        var first = source.Identity;

        Assert.NotNull(first);
        Assert.Same(first, source.Identity);
        Assert.True(source.IsConfigured);
        Assert.Equal("edge-gateway", source.Environment["IOTEDGE_GATEWAYHOSTNAME"]);
    }

    [Fact]
    public async Task In_standalone_mode_the_identity_source_has_no_identity_and_no_trust_bundle()
    {
        using var source = new ModuleIdentitySource(Env(("PATH", "/bin")), TimeProvider.System);

        Assert.Null(source.Identity);
        Assert.False(source.IsConfigured);
        Assert.Null(await source.GetTrustedRootsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Sync_trusts_the_edge_ca_of_the_registered_module_identity()
    {
        var folder = Directory.CreateTempSubdirectory("identity-");
        try
        {
            using var key = System.Security.Cryptography.ECDsa.Create();
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=edge ca", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
            using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            var caFile = Path.Combine(folder.FullName, "ca.pem");
            await File.WriteAllTextAsync(caFile, ca.ExportCertificatePem());
            using var source = new ModuleIdentitySource(
                Env(("EdgeHubConnectionString", $"HostName=h;DeviceId=d;ModuleId=m;SharedAccessKey={Key};GatewayHostName=gw.local"), ("EdgeModuleCACertificateFile", caFile)),
                TimeProvider.System);

            var roots = await new ConnectedRegistry.Sync.EdgeTrustBundleSource(source, Microsoft.Extensions.Logging.Abstractions.NullLogger<ConnectedRegistry.Sync.EdgeTrustBundleSource>.Instance).GetRootsAsync(CancellationToken.None);

            Assert.Equal(ca.Thumbprint, Assert.Single(roots!).Thumbprint);
            Assert.Same(source.Identity, source.Identity);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_malformed_identity_leaves_sync_with_the_system_trust_only()
    {
        using var source = new ModuleIdentitySource(Env(("IotHubConnectionString", "HostName=h;DeviceId=d")), TimeProvider.System);

        var roots = await new ConnectedRegistry.Sync.EdgeTrustBundleSource(source, Microsoft.Extensions.Logging.Abstractions.NullLogger<ConnectedRegistry.Sync.EdgeTrustBundleSource>.Instance).GetRootsAsync(CancellationToken.None);

        Assert.Null(roots);
        Assert.Throws<ModuleConfigurationException>(() => source.Identity);
    }
}
