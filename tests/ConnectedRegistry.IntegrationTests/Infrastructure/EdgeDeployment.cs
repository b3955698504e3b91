using System.Text.RegularExpressions;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A deployment manifest of the repository (<c>deployment.template.json</c>, <c>deployments/nested/*.json</c>) as a
/// device meets it: the IoT Edge tooling's substitution (<c>${NAME}</c> from <c>.env.example</c>, with the test's own
/// values over it; <c>${MODULES.ConnectedRegistry}</c> from the image reference), then edgeAgent's part for one module
/// (<see cref="ContainerBody"/>): its <c>createOptions</c> verbatim, its <c>env</c>, the runtime's <c>IOTEDGE_*</c>
/// variables and the workload socket; and the module's initial desired properties for edgeHub to serve.
/// </summary>
public sealed partial class EdgeDeployment
{
    public const string WorkloadSocketInContainer = "/var/run/iotedge/workload.sock";
    private readonly JObject _manifest;

    private EdgeDeployment(JObject manifest) => _manifest = manifest;

    /// <summary>Reads <paramref name="relativePath"/> (from the repository root) with the tooling's substitution.</summary>
    public static EdgeDeployment Load(string relativePath, string moduleImage, IReadOnlyDictionary<string, string> overrides)
    {
        var values = EnvExample();
        foreach (var (name, value) in overrides)
        {
            values[name] = value;
        }

        var text = File.ReadAllText(Path.Combine(ModuleImage.RepositoryRoot, relativePath));
        var missing = new List<string>();
        var substituted = Placeholder().Replace(text, m =>
        {
            var name = m.Groups[1].Value;
            if (name.StartsWith("MODULES.", StringComparison.Ordinal))
            {
                return moduleImage;
            }

            if (values.TryGetValue(name, out var value))
            {
                // The value goes into a JSON string: escape it as the tooling's JSON writer does.
                return Newtonsoft.Json.JsonConvert.ToString(value)[1..^1];
            }

            missing.Add(name);
            return m.Value;
        });
        return missing.Count == 0
            ? new EdgeDeployment(JObject.Parse(substituted))
            : throw new InvalidOperationException($"{relativePath}: no value for {string.Join(", ", missing)} in .env.example");
    }

    private JObject Module(string name) =>
        (JObject)_manifest["modulesContent"]!["$edgeAgent"]!["properties.desired"]!["modules"]![name]!;

    /// <summary>The module's image as edgeAgent pulls it: <c>$upstream</c> is the parent device's host name.</summary>
    public string Image(string module, string? upstream = null)
    {
        var image = Module(module)["settings"]!["image"]!.Value<string>()!;
        return upstream is null ? image : image.Replace("$upstream", upstream, StringComparison.Ordinal);
    }

    /// <summary>The registry credentials edgeAgent logs in with (name → address, username, password).</summary>
    public IReadOnlyList<(string Address, string UserName, string Password)> RegistryCredentials(string? upstream = null) =>
        [.. ((JObject?)_manifest["modulesContent"]!["$edgeAgent"]!["properties.desired"]!["runtime"]!["settings"]!["registryCredentials"] ?? [])
            .Properties()
            .Select(p => (p.Value["address"]!.Value<string>()!.Replace("$upstream", upstream ?? "$upstream", StringComparison.Ordinal),
                p.Value["username"]!.Value<string>()!, p.Value["password"]!.Value<string>()!))];

    /// <summary>The module's initial desired properties (what edgeHub serves it as its twin).</summary>
    public JObject Desired(string module) => (JObject)_manifest["modulesContent"]![module]!["properties.desired"]!.DeepClone();

    /// <summary>The module's <c>createOptions</c> as the manifest gives them.</summary>
    public JObject CreateOptions(string module) => (JObject)Module(module)["settings"]!["createOptions"]!.DeepClone();

    /// <summary>
    /// The body of edgeAgent's <c>POST /containers/create</c> for <paramref name="module"/>: the <c>createOptions</c>
    /// verbatim, the image, the module's <c>env</c> and <paramref name="runtimeEnvironment"/> (the <c>IOTEDGE_*</c>
    /// variables) as <c>Env</c>, the workload socket bound at <see cref="WorkloadSocketInContainer"/>, edgeAgent's
    /// labels; networking switched to the host network (this machine's engines have no bridge).
    /// </summary>
    public JObject ContainerBody(string module, string image, IReadOnlyDictionary<string, string> runtimeEnvironment, string workloadSocket, IEnumerable<string>? extraBinds = null)
    {
        var body = CreateOptions(module);
        body["Image"] = image;
        var env = new JArray(((JArray?)body["Env"] ?? []).Values<string>());
        foreach (var variable in ((JObject?)Module(module)["env"] ?? []).Properties())
        {
            env.Add($"{variable.Name}={variable.Value["value"]!.Value<string>()}");
        }

        foreach (var (name, value) in runtimeEnvironment)
        {
            env.Add($"{name}={value}");
        }

        body["Env"] = env;
        var hostConfig = (JObject?)body["HostConfig"] ?? [];
        var binds = new JArray(((JArray?)hostConfig["Binds"] ?? []).Values<string>());
        binds.Add($"{workloadSocket}:{WorkloadSocketInContainer}");
        foreach (var bind in extraBinds ?? [])
        {
            binds.Add(bind);
        }

        hostConfig["Binds"] = binds;
        hostConfig["NetworkMode"] = "host";
        body["HostConfig"] = hostConfig;
        var labels = (JObject?)body["Labels"] ?? [];
        labels["net.azure-devices.edge.owner"] = "Microsoft.Azure.Devices.Edge.Agent";
        labels["net.azure-devices.edge.version"] = Module(module)["version"]?.Value<string>() ?? "1.0";
        body["Labels"] = labels;
        return body;
    }

    /// <summary>The host folder of the module's data volume (the first bind of its <c>createOptions</c>).</summary>
    public string DataBind(string module) =>
        ((JArray)CreateOptions(module)["HostConfig"]!["Binds"]!).Values<string>().First()!.Split(':')[0];

    private static Dictionary<string, string> EnvExample()
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadAllLines(Path.Combine(ModuleImage.RepositoryRoot, ".env.example")))
        {
            var trimmed = line.Trim();
            var equals = trimmed.IndexOf('=', StringComparison.Ordinal);
            if (trimmed.Length > 0 && !trimmed.StartsWith('#') && equals > 0)
            {
                values[trimmed[..equals]] = trimmed[(equals + 1)..];
            }
        }

        return values;
    }

    [GeneratedRegex(@"\$\{([A-Za-z0-9_.]+)\}")]
    private static partial Regex Placeholder();
}
