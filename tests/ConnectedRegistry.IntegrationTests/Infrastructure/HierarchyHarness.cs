using System.Net.Http.Headers;
using System.Text;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.Hierarchy;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using ConnectedRegistry.Twin;
using ConnectedRegistry.IntegrationTests.Sync;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>An instance of this module for hierarchy tests: its sync password, scheduler pace, and IoT Edge identity.</summary>
internal static class HierarchyHarness
{
    public const string AdminPassword = "admin-Passw0rd";

    public static readonly SyncSchedulerOptions Fast = new() { IdleDelay = TimeSpan.FromMilliseconds(300), RetryDelay = TimeSpan.FromMilliseconds(300) };

    /// <summary>Hashes are made with the minimum iterations to keep the tests quick.</summary>
    public static string Hash(string password) => PasswordHasher.Hash(password, PasswordHasher.MinIterations);

    /// <param name="sync">Sync options (the parent's CA file, say); <see cref="SyncHarness.FastOptions"/> by default.</param>
    /// <param name="configure">More registrations (a startup filter that makes it answer like another kind of parent, say).</param>
    public static Task<RegistryInstance> StartAsync(string? dataRoot = null, string? syncPassword = null, SyncSchedulerOptions? scheduler = null, EdgeInstance? edge = null, HierarchyOptions? options = null, SyncOptions? sync = null, Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configure = null) =>
        RegistryInstance.StartAsync(dataRoot, configure: builder =>
        {
            configure?.Invoke(builder);
            builder.Services.AddSingleton(sync ?? SyncHarness.FastOptions);
            builder.Services.AddSingleton(scheduler ?? Fast);
            builder.Services.AddSingleton(new SyncEnvironment(name => name == ParentCredentials.PasswordVariable ? syncPassword : null));
            if (edge is not null)
            {
                builder.Services.AddSingleton(edge);
            }

            if (options is not null)
            {
                builder.Services.AddSingleton(options);
            }
        });

    public static void Apply(this RegistryInstance instance, RegistrySettings settings) => instance.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(settings);

    public static ModuleStateSnapshot State(this RegistryInstance instance) => instance.App.Services.GetRequiredService<ModuleState>().Snapshot();

    public static RegistryStore Store(this RegistryInstance instance) => instance.App.Services.GetRequiredService<RegistryStore>();

    public static LocalActivation Activation(this RegistryInstance instance) => instance.App.Services.GetRequiredService<LocalActivation>();

    public static async Task<JObject> InvokeAsync(this RegistryInstance instance, string method, JObject? payload = null)
    {
        var result = await instance.App.Services.GetRequiredService<DirectMethodDispatcher>().DispatchAsync(method, payload?.ToString() ?? string.Empty, CancellationToken.None);
        Assert.True(result.Status == 200, $"{method} answered {result.Status}: {result.Payload}");
        return (JObject)result.Payload;
    }

    /// <summary>A parent with an admin client token (everything) and the given children.</summary>
    public static RegistrySettings ParentSettings(string name, IReadOnlyDictionary<string, ChildRegistrySettings> children, RegistryMode mode = RegistryMode.ReadWrite) => new()
    {
        Name = name,
        Mode = mode,
        Children = children,
        ClientTokens = new Dictionary<string, ClientTokenSettings>
        {
            ["admin"] = new()
            {
                PasswordHash = Hash(AdminPassword),
                ScopeMap = new Dictionary<string, IReadOnlyList<string>> { ["*"] = RegistryActions.All },
            },
        },
    };

    public static RegistrySettings ChildSettings(string name, Uri parent, IReadOnlyList<string> repositories, RegistryMode mode = RegistryMode.ReadOnly) => new()
    {
        Name = name,
        Mode = mode,
        Parent = new ParentSettings { Endpoint = parent }, // user: the registry name
        Sync = new SyncSettings { Repositories = repositories },
        ClientTokens = new Dictionary<string, ClientTokenSettings>
        {
            ["admin"] = new()
            {
                PasswordHash = Hash(AdminPassword),
                ScopeMap = new Dictionary<string, IReadOnlyList<string>> { ["*"] = RegistryActions.All },
            },
        },
    };

    public static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    /// <summary>Pushes an OCI layout's image with skopeo through the registry's token flow as the admin client token.</summary>
    public static Task PushAsync(RegistryInstance registry, string layout, string layoutTag, string repository, string tag) =>
        Tools.RunAsync("skopeo", ["copy", "--all", "--quiet", "--dest-tls-verify=false", "--dest-creds", $"admin:{AdminPassword}",
            $"oci:{layout}:{layoutTag}", $"docker://{registry.HostPort}/{repository}:{tag}"]);

    public static bool HasDetail(this ModuleStateSnapshot state, string code, string type) => state.StatusDetails.Any(d => d.Code == code && d.Type == type);
}
