using System.Security.Cryptography.X509Certificates;

namespace ConnectedRegistry.Identity;

/// <summary>
/// Who the module is and how it proves it: the IoT Hub it belongs to (the SAS audience), its device and
/// module ids, where to connect (the gateway, edgeHub, when there is one) and which roots to trust there.
/// </summary>
public sealed class ModuleIdentity
{
    private readonly Func<CancellationToken, Task<X509Certificate2Collection?>> _trust;

    public ModuleIdentity(string iotHubHostName, string deviceId, string moduleId, string? gatewayHostName, ISasSigner signer, Func<CancellationToken, Task<X509Certificate2Collection?>> trust, string source, WorkloadApiClient? workload = null, string? generationId = null)
    {
        Workload = workload;
        GenerationId = generationId;
        IotHubHostName = iotHubHostName;
        DeviceId = deviceId;
        ModuleId = moduleId;
        GatewayHostName = gatewayHostName;
        Signer = signer;
        _trust = trust;
        Source = source;
    }

    public string IotHubHostName { get; }

    public string DeviceId { get; }

    public string ModuleId { get; }

    /// <summary>edgeHub's host name; null to connect to the IoT Hub directly.</summary>
    public string? GatewayHostName { get; }

    /// <summary>Where the MQTT connection goes.</summary>
    public string ConnectHost => GatewayHostName ?? IotHubHostName;

    public ISasSigner Signer { get; }

    /// <summary>The workload API (IoT Edge mode only): for example a TLS server certificate from the edge CA.</summary>
    public WorkloadApiClient? Workload { get; }

    /// <summary>IOTEDGE_MODULEGENERATIONID (IoT Edge mode only), part of every workload API path.</summary>
    public string? GenerationId { get; }

    /// <summary>"IoT Edge workload API" or the name of the connection-string variable.</summary>
    public string Source { get; }

    /// <summary>The only roots to trust, or null for the system's trust store.</summary>
    public Task<X509Certificate2Collection?> GetTrustedRootsAsync(CancellationToken cancellationToken) => _trust(cancellationToken);
}

/// <summary>
/// Reads the module's identity from its environment, in the device SDK's order: a connection string
/// (<c>EdgeHubConnectionString</c>, then <c>IotHubConnectionString</c>), else the <c>IOTEDGE_*</c>
/// variables edgeAgent injects. Returns null when neither is there (standalone mode).
/// </summary>
public static class ModuleIdentityFactory
{
    public const string EdgeHubConnectionString = "EdgeHubConnectionString";
    public const string IotHubConnectionString = "IotHubConnectionString";
    public const string CaCertificateFile = "EdgeModuleCACertificateFile";
    public const string WorkloadUri = "IOTEDGE_WORKLOADURI";
    public const string DeviceId = "IOTEDGE_DEVICEID";
    public const string ModuleId = "IOTEDGE_MODULEID";
    public const string IotHubHostName = "IOTEDGE_IOTHUBHOSTNAME";
    public const string GenerationId = "IOTEDGE_MODULEGENERATIONID";
    public const string AuthScheme = "IOTEDGE_AUTHSCHEME";
    public const string GatewayHostName = "IOTEDGE_GATEWAYHOSTNAME";
    public const string DefaultWorkloadUri = "unix:///var/run/iotedge/workload.sock";

    private static readonly string[] RequiredEdgeVariables = [DeviceId, ModuleId, IotHubHostName, GenerationId, AuthScheme];

    /// <summary>True when the environment asks for IoT Edge mode (a connection string or any IOTEDGE_* identity variable).</summary>
    public static bool IsConfigured(ModuleEnvironment environment) =>
        environment[EdgeHubConnectionString] is not null
        || environment[IotHubConnectionString] is not null
        || RequiredEdgeVariables.Any(name => environment[name] is not null);

    /// <exception cref="ModuleConfigurationException">A variable is missing or malformed; the message names it.</exception>
    public static ModuleIdentity? Create(ModuleEnvironment environment, TimeProvider time, Func<Uri, WorkloadApiClient>? workloadFactory = null)
    {
        var connectionStringName = environment[EdgeHubConnectionString] is not null ? EdgeHubConnectionString
            : environment[IotHubConnectionString] is not null ? IotHubConnectionString
            : null;
        if (connectionStringName is not null)
        {
            return FromConnectionString(connectionStringName, environment[connectionStringName]!, environment[CaCertificateFile]);
        }

        if (!RequiredEdgeVariables.Any(name => environment[name] is not null))
        {
            return null;
        }

        foreach (var name in RequiredEdgeVariables)
        {
            if (environment[name] is null)
            {
                throw new ModuleConfigurationException($"The IoT Edge environment variable {name} is missing (set by edgeAgent for every module; outside IoT Edge use {EdgeHubConnectionString} or no IOTEDGE_* variables at all).");
            }
        }

        if (!string.Equals(environment[AuthScheme], "SasToken", StringComparison.OrdinalIgnoreCase))
        {
            throw new ModuleConfigurationException($"{AuthScheme} must be SasToken, got '{environment[AuthScheme]}'.");
        }

        var workloadText = environment[WorkloadUri] ?? DefaultWorkloadUri;
        if (!Uri.TryCreate(workloadText, UriKind.Absolute, out var workloadUri) || workloadUri.Scheme is not ("unix" or "http" or "https"))
        {
            throw new ModuleConfigurationException($"{WorkloadUri} must be a unix:// or http:// URI, got '{workloadText}'.");
        }

        var hub = environment[IotHubHostName]!;
        if (Uri.CheckHostName(hub) == UriHostNameType.Unknown)
        {
            throw new ModuleConfigurationException($"{IotHubHostName} must be a host name, got '{hub}'.");
        }

        var gateway = environment[GatewayHostName];
        if (gateway is not null && Uri.CheckHostName(gateway) == UriHostNameType.Unknown)
        {
            throw new ModuleConfigurationException($"{GatewayHostName} must be a host name, got '{gateway}'.");
        }

        var workload = (workloadFactory ?? (uri => new WorkloadApiClient(uri, time)))(workloadUri);
        var moduleId = environment[ModuleId]!;
        var signer = new WorkloadSasSigner(workload, moduleId, environment[GenerationId]!);
        Func<CancellationToken, Task<X509Certificate2Collection?>> trust = gateway is null
            ? _ => Task.FromResult<X509Certificate2Collection?>(null)
            : async ct => await workload.GetTrustBundleAsync(ct);
        return new ModuleIdentity(hub, environment[DeviceId]!, moduleId, gateway, signer, trust, "IoT Edge workload API", workload, environment[GenerationId]);
    }

    private static ModuleIdentity FromConnectionString(string variable, string connectionString, string? caFile)
    {
        var parts = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                // Do not echo the pair: it may be the key.
                throw new ModuleConfigurationException($"{variable} is malformed: every part must be Name=Value.");
            }

            parts[pair[..equals].Trim()] = pair[(equals + 1)..].Trim();
        }

        string Required(string key) =>
            parts.TryGetValue(key, out var value) && value.Length > 0 ? value : throw new ModuleConfigurationException($"{variable} has no {key}.");

        var hostName = Required("HostName");
        var deviceId = Required("DeviceId");
        var moduleId = Required("ModuleId");
        if (!parts.TryGetValue("SharedAccessKey", out var keyText) || keyText.Length == 0)
        {
            throw new ModuleConfigurationException(parts.ContainsKey("SharedAccessSignature")
                ? $"{variable} holds a SharedAccessSignature; this module needs a SharedAccessKey so that it can renew its tokens."
                : $"{variable} has no SharedAccessKey.");
        }

        byte[] key;
        try
        {
            key = Convert.FromBase64String(keyText);
        }
        catch (FormatException)
        {
            throw new ModuleConfigurationException($"{variable} has a SharedAccessKey that is not base64.");
        }

        parts.TryGetValue("GatewayHostName", out var gateway);
        X509Certificate2Collection? roots = null;
        if (caFile is not null)
        {
            try
            {
                roots = TrustBundle.FromPem(File.ReadAllText(caFile));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or System.Security.Cryptography.CryptographicException)
            {
                throw new ModuleConfigurationException($"{CaCertificateFile} could not be read as PEM certificates: {ex.Message}");
            }
        }

        return new ModuleIdentity(hostName, deviceId, moduleId, string.IsNullOrEmpty(gateway) ? null : gateway, new LocalSasSigner(key),
            _ => Task.FromResult(roots), variable);
    }
}
