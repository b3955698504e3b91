using System.Text.RegularExpressions;
using ConnectedRegistry.Core;
using ConnectedRegistry.Tests.Infrastructure;
using ConnectedRegistry.Tls;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.Configuration;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Deployment;

/// <summary>
/// The IoT Edge deployment files: valid JSON in the tooling's shape, createOptions that fit the
/// tooling's chunking when stringified, every placeholder defined in .env.example, and initial desired
/// properties that the module's own parser accepts.
/// </summary>
public partial class DeploymentTemplateTests
{
    /// <summary>edgeAgent twin values are at most 512 characters; the tooling splits createOptions into createOptions, createOptions01..07.</summary>
    private const int ChunkSize = 512;
    private const int MaxChunks = 8;

    public static TheoryData<string> Manifests => new()
    {
        "deployment.template.json",
        "deployment.debug.template.json",
        "deployments/nested/top-layer.json",
        "deployments/nested/lower-layer.json",
    };

    private static readonly string Root = RepositoryRoot.Path;

    private static JObject Load(string relative)
    {
        var text = File.ReadAllText(Path.Combine(Root, relative));
        using var reader = new JsonTextReader(new StringReader(text)) { DateParseHandling = DateParseHandling.None };
        return JObject.Load(reader, new JsonLoadSettings { DuplicatePropertyNameHandling = DuplicatePropertyNameHandling.Error });
    }

    private static Dictionary<string, string> EnvExample()
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadAllLines(Path.Combine(Root, ".env.example")))
        {
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed.StartsWith('#'))
            {
                continue;
            }

            var equals = trimmed.IndexOf('=', StringComparison.Ordinal);
            Assert.True(equals > 0, $".env.example line is not NAME=VALUE: {line}");
            values[trimmed[..equals]] = trimmed[(equals + 1)..];
        }

        return values;
    }

    [GeneratedRegex(@"\$\{([A-Za-z0-9_.]+)\}")]
    private static partial Regex Placeholder();

    /// <summary>What the tooling does: ${NAME} from .env, ${MODULES.X} from module.json.</summary>
    private static string Substitute(string text, IReadOnlyDictionary<string, string> env) =>
        Placeholder().Replace(text, m => m.Groups[1].Value.StartsWith("MODULES.", StringComparison.Ordinal)
            ? "registry.example/connected-registry:0.1.0-amd64"
            : env.TryGetValue(m.Groups[1].Value, out var v) ? v : m.Value);

    private static JObject ModulesOf(JObject manifest) => (JObject)manifest["modulesContent"]!["$edgeAgent"]!["properties.desired"]!["modules"]!;

    [Theory]
    [MemberData(nameof(Manifests))]
    public void The_manifest_has_the_shape_the_iot_edge_tooling_expects(string file)
    {
        var content = (JObject)Load(file)["modulesContent"]!;
        var agent = content["$edgeAgent"]!["properties.desired"]!;
        Assert.Equal("1.1", agent["schemaVersion"]!.Value<string>());
        Assert.Equal("docker", agent["runtime"]!["type"]!.Value<string>());
        Assert.NotNull(agent["runtime"]!["settings"]!["registryCredentials"]);
        foreach (var system in new[] { "edgeAgent", "edgeHub" })
        {
            var image = agent["systemModules"]![system]!["settings"]!["image"]!.Value<string>()!;
            Assert.Matches($@"azureiotedge-{system[4..].ToLowerInvariant()}:(1\.5|1\.6|\$\{{EDGE_RUNTIME_VERSION\}})$", image);
        }

        foreach (var (name, module) in ModulesOf(Load(file)))
        {
            Assert.Equal("docker", module!["type"]!.Value<string>());
            Assert.Equal("running", module["status"]!.Value<string>());
            Assert.Equal("always", module["restartPolicy"]!.Value<string>());
            Assert.NotNull(module["version"]);
            Assert.NotNull(module["startupOrder"]);
            Assert.IsType<JObject>(module["settings"]!["createOptions"]);
            Assert.False(string.IsNullOrEmpty(module["settings"]!["image"]!.Value<string>()), name);
            foreach (var (variable, value) in (JObject?)module["env"] ?? [])
            {
                Assert.True(value is JObject { Count: 1 } v && v["value"] is JValue, $"{name}.env.{variable} must be {{\"value\": ...}}");
            }
        }

        var hub = content["$edgeHub"]!["properties.desired"]!;
        Assert.Equal("1.2", hub["schemaVersion"]!.Value<string>());
        Assert.NotEmpty((JObject)hub["routes"]!);
        Assert.Equal("FROM /messages/modules/ConnectedRegistry/outputs/events INTO $upstream", hub["routes"]!["registryEvents"]!.Value<string>());
        Assert.True(hub["storeAndForwardConfiguration"]!["timeToLiveSecs"]!.Value<int>() > 0);
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Stringified_create_options_fit_the_tooling_chunks(string file)
    {
        var manifest = Load(file);
        var agent = manifest["modulesContent"]!["$edgeAgent"]!["properties.desired"]!;
        var all = ModulesOf(manifest).Properties().Select(p => p.Value)
            .Concat(((JObject)agent["systemModules"]!).Properties().Select(p => p.Value));
        foreach (var module in all)
        {
            var stringified = module["settings"]!["createOptions"]!.ToString(Formatting.None);
            var chunks = (stringified.Length + ChunkSize - 1) / ChunkSize;
            Assert.True(chunks <= MaxChunks, $"{file}: createOptions of {stringified.Length} characters needs {chunks} chunks");
            Assert.True(stringified.Length <= ChunkSize, $"{file}: createOptions of {stringified.Length} characters; keep it to one chunk");
        }
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Every_placeholder_is_defined_in_the_env_example(string file)
    {
        var env = EnvExample();
        var text = File.ReadAllText(Path.Combine(Root, file));
        var missing = Placeholder().Matches(text).Select(m => m.Groups[1].Value)
            .Where(name => !name.StartsWith("MODULES.", StringComparison.Ordinal) && !env.ContainsKey(name))
            .Distinct()
            .ToList();
        Assert.Empty(missing);
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void The_initial_desired_properties_pass_the_module_parser(string file)
    {
        var substituted = Substitute(File.ReadAllText(Path.Combine(Root, file)), EnvExample());
        var desired = (JObject)TwinJson.ParseObject(substituted)["modulesContent"]!["ConnectedRegistry"]!["properties.desired"]!;

        var result = DesiredPropertiesParser.Parse(desired, name => name == "IOTEDGE_PARENTHOSTNAME" ? "top-layer-device" : null);

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        Assert.DoesNotContain("${", desired.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("deployment.template.json", "${MODULES.ConnectedRegistry}")]
    [InlineData("deployment.debug.template.json", "${MODULES.ConnectedRegistry.debug}")]
    public void The_single_layer_manifests_run_the_module_image_with_data_volume_port_and_sync_secret(string file, string image)
    {
        var module = ModulesOf(Load(file))["ConnectedRegistry"]!;
        Assert.Equal(image, module["settings"]!["image"]!.Value<string>());
        var create = module["settings"]!["createOptions"]!;
        Assert.Contains(create["HostConfig"]!["Binds"]!.Values<string>(), b => b!.EndsWith(":/var/lib/connected-registry", StringComparison.Ordinal));
        Assert.Equal("8080", create["HostConfig"]!["PortBindings"]!["8080/tcp"]![0]!["HostPort"]!.Value<string>());
        Assert.NotNull(create["ExposedPorts"]!["8080/tcp"]);
        Assert.Equal("${PARENT_SYNC_TOKEN_PASSWORD}", module["env"]!["PARENT_SYNC_TOKEN_PASSWORD"]!["value"]!.Value<string>());
        Assert.Equal("/var/lib/connected-registry", module["env"]!["REGISTRY_DATA"]!["value"]!.Value<string>());
    }

    [Theory]
    [InlineData("deployment.template.json")]
    [InlineData("deployment.debug.template.json")]
    public void The_single_layer_manifests_serve_https_on_8443_with_a_certificate_from_the_workload_api(string file)
    {
        var module = ModulesOf(Load(file))["ConnectedRegistry"]!;
        var create = module["settings"]!["createOptions"]!;
        Assert.Equal("8443", create["HostConfig"]!["PortBindings"]!["8443/tcp"]![0]!["HostPort"]!.Value<string>());
        Assert.NotNull(create["ExposedPorts"]!["8443/tcp"]);
        var environment = ((JObject)module["env"]!).Properties().ToDictionary(p => p.Name == "ASPNETCORE_URLS" ? "urls" : p.Name, p => (string?)p.Value["value"]!.Value<string>());

        var tls = TlsOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(environment).Build());

        Assert.Equal(["https://0.0.0.0:8443"], tls.HttpsUrls);
        Assert.Equal("workload", tls.Mode);
        Assert.Null(tls.CertificateFile);
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Every_manifest_exposes_the_metrics_port_to_the_metrics_collector_without_a_host_port(string file)
    {
        var module = ModulesOf(Load(file))["ConnectedRegistry"]!;
        var create = module["settings"]!["createOptions"]!;
        Assert.NotNull(create["ExposedPorts"]!["9600/tcp"]);
        Assert.Null(create["HostConfig"]!["PortBindings"]?["9600/tcp"]);
        var environment = ((JObject)module["env"]!).Properties().ToDictionary(p => p.Name, p => (string?)p.Value["value"]!.Value<string>());
        var options = ConnectedRegistry.Monitoring.MonitoringOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(environment).Build());
        Assert.Equal(["http://0.0.0.0:9600"], options.MetricsUrls);
    }

    [Fact]
    public void The_top_layer_routes_the_api_proxy_to_the_registry_and_lists_the_lower_layer_as_a_read_only_child()
    {
        var env = EnvExample();
        var top = TwinJson.ParseObject(Substitute(File.ReadAllText(Path.Combine(Root, "deployments/nested/top-layer.json")), env));
        var proxy = ModulesOf(top)["IoTEdgeAPIProxy"]!;
        Assert.StartsWith("mcr.microsoft.com/azureiotedge-api-proxy:", proxy["settings"]!["image"]!.Value<string>(), StringComparison.Ordinal);
        Assert.Equal("8000", proxy["env"]!["NGINX_DEFAULT_PORT"]!["value"]!.Value<string>());
        Assert.Equal("ConnectedRegistry:8080", proxy["env"]!["CONNECTED_ACR_ROUTE_ADDRESS"]!["value"]!.Value<string>());
        Assert.Equal("8000", proxy["settings"]!["createOptions"]!["HostConfig"]!["PortBindings"]!["8000/tcp"]![0]!["HostPort"]!.Value<string>());
        // The proxy runs its stock configuration: no proxy_config of our own in its twin (it forwards /v2 and /acr).
        Assert.Null(top["modulesContent"]!["IoTEdgeAPIProxy"]);

        var settings = DesiredPropertiesParser.Parse((JObject)top["modulesContent"]!["ConnectedRegistry"]!["properties.desired"]!).Settings!;
        var child = settings.Children[env["LOWER_REGISTRY_NAME"]];
        Assert.Equal(RegistryMode.ReadOnly, child.Mode);
        // What the lower layer pulls through this layer: its system images, this module, the workloads.
        Assert.Equal(["azureiotedge-agent", "azureiotedge-hub", "azureiotedge-api-proxy", "connected-registry", "factory/*"], child.Repositories);
        Assert.True(ConnectedRegistry.Auth.PasswordHasher.Verify(env["LOWER_SYNC_TOKEN_PASSWORD"], child.SyncTokenPasswordHash), "the example hash is the hash of the example password");
    }

    [Fact]
    public void The_lower_layer_pulls_through_the_parent_proxy_and_runs_read_only_under_its_parent()
    {
        var env = EnvExample();
        var lower = TwinJson.ParseObject(Substitute(File.ReadAllText(Path.Combine(Root, "deployments/nested/lower-layer.json")), env));
        var agent = lower["modulesContent"]!["$edgeAgent"]!["properties.desired"]!;
        Assert.All(agent["runtime"]!["settings"]!["registryCredentials"]!.Children<JProperty>(), c => Assert.Equal("$upstream:8000", c.Value["address"]!.Value<string>()));
        var images = agent["systemModules"]!.Children<JProperty>().Concat(((JObject)agent["modules"]!).Properties())
            .Select(p => p.Value["settings"]!["image"]!.Value<string>()!);
        Assert.All(images, image => Assert.StartsWith("$upstream:8000/", image, StringComparison.Ordinal));

        var desired = (JObject)lower["modulesContent"]!["ConnectedRegistry"]!["properties.desired"]!;
        Assert.Contains("$IOTEDGE_PARENTHOSTNAME", desired["parent"]!["endpoint"]!.Value<string>(), StringComparison.Ordinal);
        var settings = DesiredPropertiesParser.Parse(desired, name => name == "IOTEDGE_PARENTHOSTNAME" ? "top-layer-device" : null).Settings!;
        Assert.Equal(RegistryMode.ReadOnly, settings.Mode);
        Assert.Equal(new Uri("https://top-layer-device:8000"), settings.Parent!.Endpoint);
        Assert.Equal(env["LOWER_REGISTRY_NAME"], settings.Name);
        Assert.Equal("${LOWER_SYNC_TOKEN_PASSWORD}", Load("deployments/nested/lower-layer.json").SelectToken("modulesContent.$edgeAgent['properties.desired'].modules.ConnectedRegistry.env.PARENT_SYNC_TOKEN_PASSWORD.value")!.Value<string>());
    }

    [Fact]
    public void The_module_json_follows_the_tooling_convention_and_its_context_holds_the_build_props()
    {
        var module = Load("modules/ConnectedRegistry/module.json");
        Assert.Equal("0.0.1", module["$schema-version"]!.Value<string>());
        Assert.Equal("csharp", module["language"]!.Value<string>());
        var image = module["image"]!;
        Assert.StartsWith("${CONTAINER_REGISTRY_SERVER}/", image["repository"]!.Value<string>(), StringComparison.Ordinal);
        var moduleDir = Path.Combine(Root, "modules", "ConnectedRegistry");
        foreach (var platform in new[] { "amd64", "amd64.debug", "arm64v8" })
        {
            Assert.True(File.Exists(Path.Combine(moduleDir, image["tag"]!["platforms"]![platform]!.Value<string>()!)), platform);
        }

        var context = Path.GetFullPath(Path.Combine(moduleDir, image["contextPath"]!.Value<string>()!));
        Assert.True(File.Exists(Path.Combine(context, "Directory.Packages.props")));
        Assert.True(File.Exists(Path.Combine(context, "Directory.Build.props")));
    }

    [Theory]
    [InlineData("Dockerfile.amd64", "mcr.microsoft.com/dotnet/runtime-deps:10.0", Native)]
    [InlineData("Dockerfile.amd64.aot", "mcr.microsoft.com/dotnet/runtime-deps:10.0", Native)]
    [InlineData("Dockerfile.amd64.jit", "mcr.microsoft.com/dotnet/aspnet:10.0", Jit)]
    [InlineData("Dockerfile.amd64.debug", "mcr.microsoft.com/dotnet/aspnet:10.0", Jit)]
    [InlineData("Dockerfile.arm64v8", "mcr.microsoft.com/dotnet/aspnet:10.0-noble-arm64v8", Jit)]
    public void The_dockerfiles_build_with_the_sdk_and_run_non_root_on_their_dotnet_base(string file, string runtime, string command)
    {
        var lines = File.ReadAllLines(Path.Combine(Root, "modules", "ConnectedRegistry", file)).Select(l => l.Trim()).ToList();
        var froms = lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, froms.Count);
        Assert.Contains("mcr.microsoft.com/dotnet/sdk:10.0 AS build", froms[0], StringComparison.Ordinal);
        Assert.Equal($"FROM {runtime}", froms[1]);
        var runtimeStage = lines.SkipWhile(l => l != froms[1]).ToList();
        // No USER: the entry point starts as root only to hand the data volume to the app user, then drops to it.
        Assert.DoesNotContain(runtimeStage, l => l.StartsWith("USER ", StringComparison.Ordinal));
        Assert.Contains("COPY modules/ConnectedRegistry/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh", runtimeStage);
        Assert.Contains("VOLUME /var/lib/connected-registry", runtimeStage);
        Assert.Contains("EXPOSE 8080 9600", runtimeStage);
        Assert.Contains(runtimeStage, l => l.Contains("REGISTRY_METRICS_URLS=http://0.0.0.0:9600", StringComparison.Ordinal));
        // The health check needs nothing the base image lacks: the module's own executable asks /readyz.
        var healthcheck = string.Join(' ', runtimeStage.SkipWhile(l => !l.StartsWith("HEALTHCHECK ", StringComparison.Ordinal)).Take(2));
        Assert.Contains($"CMD [\"docker-entrypoint.sh\", {command}, \"health\"]", healthcheck, StringComparison.Ordinal);
        Assert.Contains(runtimeStage, l => l.Contains("ASPNETCORE_URLS=http://0.0.0.0:8080", StringComparison.Ordinal));
        Assert.Contains(runtimeStage, l => l.Contains("REGISTRY_DATA=/var/lib/connected-registry", StringComparison.Ordinal));
        Assert.Equal($"ENTRYPOINT [\"docker-entrypoint.sh\", {command}]", runtimeStage[^1]);
        if (command == Native)
        {
            // The native image is the module published with the AOT profile: no runtime in it to run a .dll.
            Assert.Contains(lines, l => l.Contains("-p:PublishProfile=aot", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void The_amd64_image_is_the_native_one_and_its_old_name_still_builds_it()
    {
        // Dockerfile.amd64.aot was the native image's name while it was the alternative; scripts that name it get the
        // same file (a link), and module.json's amd64 platform builds it.
        var folder = Path.Combine(Root, "modules", "ConnectedRegistry");
        Assert.Equal(File.ReadAllText(Path.Combine(folder, "Dockerfile.amd64")), File.ReadAllText(Path.Combine(folder, "Dockerfile.amd64.aot")));
        var platforms = JObject.Parse(File.ReadAllText(Path.Combine(folder, "module.json")))["image"]!["tag"]!["platforms"]!;
        Assert.Equal("./Dockerfile.amd64", platforms["amd64"]!.Value<string>());
    }

    /// <summary>How each image starts the module: the .dll under the runtime, or the native executable.</summary>
    private const string Jit = "\"dotnet\", \"ConnectedRegistry.dll\"";
    private const string Native = "\"/app/ConnectedRegistry\"";
}
