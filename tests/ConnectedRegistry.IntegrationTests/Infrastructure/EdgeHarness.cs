using System.Diagnostics;
using System.Security.Cryptography;
using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using ConnectedRegistry.Twin;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A test IoT Edge device: the edge CA, the workload API on a Unix socket, edgeHub over TLS, and the
/// real module started with the IOTEDGE_* environment edgeAgent would give it.
/// </summary>
public sealed class EdgeHarness : IAsyncDisposable
{
    public const string HubName = "test-hub.example.net";
    public const string DeviceId = "edge-device-1";
    public const string ModuleId = "ConnectedRegistry";
    public const string GenerationId = "gen-1";

    private static readonly Lazy<TestPki> SharedPki = new(() => TestPki.Create());

    private EdgeHarness(TestPki pki, byte[] key, FakeWorkloadApi workload, FakeEdgeHub hub)
    {
        Pki = pki;
        ModuleKey = key;
        Workload = workload;
        Hub = hub;
    }

    public TestPki Pki { get; }

    /// <summary>The test edge CA every harness shares (the trust bundle's root).</summary>
    public static TestPki EdgeCa => SharedPki.Value;

    public byte[] ModuleKey { get; }

    public FakeWorkloadApi Workload { get; }

    public FakeEdgeHub Hub { get; }

    public RegistryInstance? Module { get; private set; }

    public IRegistrySettingsSource Settings => Module!.App.Services.GetRequiredService<IRegistrySettingsSource>();

    public ModuleState State => Module!.App.Services.GetRequiredService<ModuleState>();

    /// <param name="edgeHubCertificateIssuer">Who issued edgeHub's certificate (another CA to test refusal).</param>
    /// <param name="workloadIssuer">Who issues the workload API's server certificates: the edge CA by default, or an intermediate below it.</param>
    public static async Task<EdgeHarness> StartAsync(TestPki? edgeHubCertificateIssuer = null, TestPki? workloadIssuer = null)
    {
        var pki = SharedPki.Value;
        var key = RandomNumberGenerator.GetBytes(32);
        var workload = await FakeWorkloadApi.StartAsync(ModuleId, GenerationId, key, pki.CaPem, workloadIssuer ?? pki);
        var hub = new FakeEdgeHub((edgeHubCertificateIssuer ?? pki).Server, HubName, DeviceId, ModuleId, key);
        await hub.StartAsync();
        return new EdgeHarness(pki, key, workload, hub);
    }

    public Dictionary<string, string> EdgeEnvironment() => new(StringComparer.Ordinal)
    {
        ["IOTEDGE_WORKLOADURI"] = Workload.Uri,
        ["IOTEDGE_DEVICEID"] = DeviceId,
        ["IOTEDGE_MODULEID"] = ModuleId,
        ["IOTEDGE_IOTHUBHOSTNAME"] = HubName,
        ["IOTEDGE_MODULEGENERATIONID"] = GenerationId,
        ["IOTEDGE_AUTHSCHEME"] = "sasToken",
        ["IOTEDGE_GATEWAYHOSTNAME"] = "localhost",
        ["IOTEDGE_APIVERSION"] = "2018-06-28",
    };

    /// <summary>Starts the real registry with <paramref name="environment"/> (the IoT Edge one by default) against this edgeHub.</summary>
    public async Task<RegistryInstance> StartModuleAsync(IDictionary<string, string>? environment = null, int reportIntervalMs = 100, string? dataRoot = null, Action<WebApplicationBuilder>? configure = null, params string[] extraArgs)
    {
        var env = new Dictionary<string, string>(environment ?? EdgeEnvironment(), StringComparer.Ordinal);
        string[] args =
        [
            "--Twin:MqttPort", Hub.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--Twin:WebSocketPort", "0",
            "--Twin:ReportIntervalMs", reportIntervalMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--Twin:ReconnectDelayMs", "50",
            "--Twin:ReconnectMaxDelayMs", "300",
            "--Twin:RequestTimeoutMs", "3000",
            .. extraArgs,
        ];
        var ownsData = dataRoot is null;
        dataRoot ??= TempDirectory.Create("twin-module");
        try
        {
            Module = await RegistryInstance.StartAsync(dataRoot, args, b =>
            {
                b.Services.AddSingleton(new ModuleEnvironment(env));
                configure?.Invoke(b);
            });
        }
        catch
        {
            if (ownsData)
            {
                TempDirectory.Delete(dataRoot);
            }

            throw;
        }

        return Module;
    }

    /// <summary>Stops the module and keeps its data folder (for a restart on the same data).</summary>
    public async Task<string> StopModuleAsync()
    {
        var module = Module ?? throw new InvalidOperationException("no module running");
        Module = null;
        await module.DisposeAsync();
        return module.DataRoot;
    }

    public async ValueTask DisposeAsync()
    {
        if (Module is not null)
        {
            await Module.DisposeAsync();
            Module.DeleteData();
        }

        await Hub.DisposeAsync();
        await Workload.DisposeAsync();
    }
}
