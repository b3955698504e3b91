using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// An IoT Edge device around a Docker engine, as the module meets it in its container: edgeHub (MQTT over TLS on
/// 8883, at <see cref="GatewayHostName"/>) and the workload API on a Unix socket, both served by the test, and
/// edgeAgent's part: <see cref="RunModuleAsync"/> creates and starts the module's container from a deployment manifest
/// through the Engine API with the runtime's <c>IOTEDGE_*</c> environment. Dispose removes the containers it created,
/// stops edgeHub and the workload API and deletes the device's folder (where the manifests' bind folders go).
/// </summary>
public sealed class EdgeDevice : IAsyncDisposable
{
    public const string ModuleId = "ConnectedRegistry";
    public const string GenerationId = "gen-7";
    private readonly List<string> _containers = [];

    private EdgeDevice(DockerDaemon docker, string deviceId, string gatewayHostName, string? parentHostName, FakeWorkloadApi workload, FakeEdgeHub hub, string folder)
    {
        Docker = docker;
        Engine = docker.Api();
        DeviceId = deviceId;
        GatewayHostName = gatewayHostName;
        ParentHostName = parentHostName;
        Workload = workload;
        Hub = hub;
        Folder = folder;
    }

    public DockerDaemon Docker { get; }

    public DockerEngineApi Engine { get; }

    public string DeviceId { get; }

    /// <summary>IOTEDGE_GATEWAYHOSTNAME: where the module finds edgeHub.</summary>
    public string GatewayHostName { get; }

    /// <summary>IOTEDGE_PARENTHOSTNAME on a nested device; null on a top-layer one.</summary>
    public string? ParentHostName { get; }

    public FakeWorkloadApi Workload { get; }

    public FakeEdgeHub Hub { get; }

    /// <summary>The device's own folder: the edge CA file, and the manifests' bind folders (not created: the engine does).</summary>
    public string Folder { get; }

    /// <param name="hubAddress">Where edgeHub listens (on 8883); the module reaches it by <paramref name="gatewayHostName"/>.</param>
    /// <param name="trustBundlePem">The workload API's trust bundle: the edge CA, and on a nested device the parent's CA.</param>
    public static async Task<EdgeDevice> StartAsync(DockerDaemon docker, string deviceId, IPAddress hubAddress, string gatewayHostName, string trustBundlePem, string? parentHostName = null)
    {
        var pki = EdgeHarness.EdgeCa;
        var key = RandomNumberGenerator.GetBytes(32);
        var folder = TempDirectory.Create("edge-device");
        var workload = await FakeWorkloadApi.StartAsync(ModuleId, GenerationId, key, trustBundlePem, pki);
        var certificate = pki.Server; // localhost
        if (!IPAddress.IsLoopback(hubAddress))
        {
            var (certificatePem, keyPem) = pki.IssueServer(gatewayHostName, DateTimeOffset.UtcNow.AddDays(1), hubAddress);
            certificate = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }

        var hub = new FakeEdgeHub(certificate, EdgeHarness.HubName, deviceId, ModuleId, key, hubAddress, 8883);
        await hub.StartAsync();
        await File.WriteAllTextAsync(Path.Combine(folder, "edge-ca.pem"), pki.CaPem);
        return new EdgeDevice(docker, deviceId, gatewayHostName, parentHostName, workload, hub, folder);
    }

    /// <summary>What the IoT Edge runtime gives every module container.</summary>
    public Dictionary<string, string> RuntimeEnvironment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["IOTEDGE_MODULEID"] = ModuleId,
            ["IOTEDGE_DEVICEID"] = DeviceId,
            ["IOTEDGE_IOTHUBHOSTNAME"] = EdgeHarness.HubName,
            ["IOTEDGE_GATEWAYHOSTNAME"] = GatewayHostName,
            ["IOTEDGE_WORKLOADURI"] = "unix://" + EdgeDeployment.WorkloadSocketInContainer,
            ["IOTEDGE_APIVERSION"] = "2018-06-28",
            ["IOTEDGE_MODULEGENERATIONID"] = GenerationId,
            ["IOTEDGE_AUTHSCHEME"] = "sasToken",
            ["EdgeModuleCACertificateFile"] = "/etc/iotedge/edge-ca.pem",
        };
        if (ParentHostName is not null)
        {
            env["IOTEDGE_PARENTHOSTNAME"] = ParentHostName;
        }

        return env;
    }

    /// <summary>
    /// edgeAgent's part for the registry module: serves the manifest's desired properties (version
    /// <paramref name="desiredVersion"/>, after <paramref name="editDesired"/>) as the module twin, then creates the
    /// container from the manifest's <c>createOptions</c> and <paramref name="image"/>, and starts it.
    /// </summary>
    public async Task<string> RunModuleAsync(EdgeDeployment deployment, string image, long desiredVersion = 1, Action<Newtonsoft.Json.Linq.JObject>? editDesired = null)
    {
        var desired = deployment.Desired(ModuleId);
        editDesired?.Invoke(desired);
        Hub.SetDesired(desired, desiredVersion);
        var body = deployment.ContainerBody(ModuleId, image, RuntimeEnvironment(), Workload.SocketPath, [$"{Path.Combine(Folder, "edge-ca.pem")}:/etc/iotedge/edge-ca.pem:ro"]);
        var id = await Engine.CreateContainerAsync($"{ModuleId}-{Guid.NewGuid():N}"[..28], body);
        _containers.Add(id);
        await Engine.StartAsync(id);
        return id;
    }

    /// <summary>Removes a container edgeAgent created (as on a deployment change, before it creates the new one).</summary>
    public async Task RemoveModuleAsync(string id)
    {
        await Engine.RemoveAsync(id);
        _containers.Remove(id);
    }

    /// <summary><see cref="Poll.UntilAsync(Func{Task{bool}}, string, TimeSpan?)"/>, with the container's last log lines when it fails.</summary>
    public Task UntilAsync(Func<bool> condition, string what, TimeSpan timeout, string container) =>
        UntilAsync(() => Task.FromResult(condition()), what, timeout, container);

    public async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan timeout, string container)
    {
        try
        {
            await Poll.UntilAsync(condition, what, timeout);
        }
        catch (Xunit.Sdk.XunitException ex)
        {
            throw new Xunit.Sdk.XunitException($"{ex.Message}\ncontainer log:\n{await LogsAsync(container)}");
        }
    }

    /// <summary>The container's last 40 lines of output (<c>docker logs</c>).</summary>
    public async Task<string> LogsAsync(string container)
    {
        var (_, stdout, stderr) = await Tools.RunToExitAsync("docker", ["logs", "--tail", "40", container], Docker.CliEnvironment);
        return stdout + stderr;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in _containers)
        {
            await Engine.RemoveAsync(id);
        }

        Engine.Dispose();
        await Hub.DisposeAsync();
        await Workload.DisposeAsync();
        TempDirectory.Delete(Folder);
    }
}
