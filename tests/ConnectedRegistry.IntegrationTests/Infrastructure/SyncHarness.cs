using System.Security.Cryptography.X509Certificates;
using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A real docker-registry parent (Basic auth, content pushed with skopeo) and a real instance of this module
/// as the child, syncing from it (optionally through a <see cref="ForwardingProxy"/>). By default the child's
/// schedule never opens during a test: tests run passes themselves with <see cref="RunPassAsync"/>.
/// </summary>
public sealed class SyncHarness : IAsyncDisposable
{
    /// <summary>A schedule that never opens (30 February): the scheduler stays idle while a test drives passes.</summary>
    public static readonly SyncSettings Idle = new() { Schedule = "0 0 30 2 *", Window = TimeSpan.FromHours(1) };

    private SyncHarness(DockerRegistry parent, ForwardingProxy? proxy, RegistryInstance child, string layoutDir)
    {
        Parent = parent;
        Proxy = proxy;
        Child = child;
        LayoutDir = layoutDir;
        Layout = new OciLayoutBuilder(layoutDir);
    }

    public DockerRegistry Parent { get; }

    public ForwardingProxy? Proxy { get; }

    public RegistryInstance Child { get; private set; }

    public string LayoutDir { get; }

    public OciLayoutBuilder Layout { get; }

    public RegistryStore Store => Child.App.Services.GetRequiredService<RegistryStore>();

    public PartialBlobStore Partials => Child.App.Services.GetRequiredService<PartialBlobStore>();

    public ModuleState State => Child.App.Services.GetRequiredService<ModuleState>();

    public ParentSync Sync => Child.App.Services.GetRequiredService<ParentSync>();

    public SyncScheduler Scheduler => Child.App.Services.GetRequiredService<SyncScheduler>();

    public RegistrySettings Settings { get; private set; } = RegistrySettings.Default;

    public static readonly SyncOptions FastOptions = new()
    {
        BlobRetryPause = TimeSpan.FromMilliseconds(50),
        ProgressInterval = TimeSpan.FromMilliseconds(100),
        Client = ParentClients.FastOptions with { BreakerDuration = TimeSpan.FromMilliseconds(500) },
    };

    /// <param name="proxyCertificate">Serve the proxy over https with this certificate, and give the child an
    /// <see cref="IParentTrustSource"/> (standing in for the IoT Edge trust bundle) that trusts it.</param>
    /// <param name="childArgs">Command-line arguments for the child (e.g. <c>--gc-grace 00:00:00</c>).</param>
    /// <param name="configureChild">More registrations for the child (a fake clock), after the harness's own.</param>
    /// <param name="childDataRoot">The child's data folder (on a small tmpfs); a new temporary one by default.</param>
    /// <param name="parentAuth">The parent asks for Basic credentials (bcrypt-checked on every request); off for tests
    /// that push many releases and whose subject is not authentication.</param>
    public static async Task<SyncHarness> StartAsync(bool proxy = false, SyncOptions? options = null, X509Certificate2? proxyCertificate = null, IReadOnlyList<string>? childArgs = null,
        SyncSchedulerOptions? schedulerOptions = null, Action<WebApplicationBuilder>? configureChild = null, string? childDataRoot = null, bool parentAuth = true)
    {
        var parent = await DockerRegistry.StartNewAsync(parentAuth);
        var forwarding = proxy || proxyCertificate is not null ? await ForwardingProxy.StartAsync(parent.Endpoint, proxyCertificate) : null;
        var trust = proxyCertificate is null ? null : new FixedTrust(proxyCertificate);
        var child = await StartChildAsync(childDataRoot, options, trust, childArgs, schedulerOptions, configureChild);
        var harness = new SyncHarness(parent, forwarding, child, TempDirectory.Create("layout"))
        {
            _options = options, _trust = trust, _childArgs = childArgs, _schedulerOptions = schedulerOptions, _configureChild = configureChild,
        };
        harness.Configure(["apps/*", "base"]);
        return harness;
    }

    private SyncOptions? _options;
    private IParentTrustSource? _trust;
    private IReadOnlyList<string>? _childArgs;
    private SyncSchedulerOptions? _schedulerOptions;
    private Action<WebApplicationBuilder>? _configureChild;

    /// <param name="schedulerOptions">The scheduler's pauses; by default 200 ms between passes, so that tests need not wait.</param>
    private static Task<RegistryInstance> StartChildAsync(string? dataRoot, SyncOptions? options, IParentTrustSource? trust, IReadOnlyList<string>? args = null,
        SyncSchedulerOptions? schedulerOptions = null, Action<WebApplicationBuilder>? configure = null) =>
        RegistryInstance.StartAsync(dataRoot, args, configure: builder =>
        {
            if (trust is not null)
            {
                builder.Services.AddSingleton(trust);
            }

            builder.Services.AddSingleton(options ?? FastOptions);
            builder.Services.AddSingleton(schedulerOptions ?? new SyncSchedulerOptions { IdleDelay = TimeSpan.FromMilliseconds(200), RetryDelay = TimeSpan.FromMilliseconds(200) });
            builder.Services.AddSingleton(new SyncEnvironment(name => name == ParentCredentials.PasswordVariable ? DockerRegistry.Password : null));
            configure?.Invoke(builder);
        });

    /// <summary>
    /// Another instance of this module, to be a child of <see cref="Child"/> (or of any module): fast sync options,
    /// and <paramref name="syncPassword"/> as its sync token password (<c>PARENT_SYNC_TOKEN_PASSWORD</c>).
    /// </summary>
    public static Task<RegistryInstance> StartModuleChildAsync(string syncPassword) =>
        RegistryInstance.StartAsync(configure: builder =>
        {
            builder.Services.AddSingleton(FastOptions);
            builder.Services.AddSingleton(new SyncEnvironment(name => name == ParentCredentials.PasswordVariable ? syncPassword : null));
        });

    /// <summary>Stops the child and starts a new process-equivalent on the same data folder, with the same settings.</summary>
    public async Task RestartChildAsync()
    {
        var dataRoot = Child.DataRoot;
        await Child.DisposeAsync();
        Child = await StartChildAsync(dataRoot, _options, _trust, _childArgs, _schedulerOptions, _configureChild);
        Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(Settings);
    }

    /// <summary>
    /// Applies settings naming the parent (through the proxy when there is one) and the subset; with
    /// <paramref name="clientTokens"/> the child's own clients must sign in (else it is open).
    /// </summary>
    public void Configure(IReadOnlyList<string> repositories, SyncSettings? sync = null, RegistryMode mode = RegistryMode.ReadWrite, IReadOnlyDictionary<string, ClientTokenSettings>? clientTokens = null,
        StorageSettings? storage = null)
    {
        Settings = new RegistrySettings
        {
            Name = "edge-child",
            Mode = mode,
            Parent = new ParentSettings { Endpoint = Proxy?.Address ?? Parent.Endpoint, SyncTokenName = DockerRegistry.User },
            Sync = (sync ?? Idle) with { Repositories = repositories },
            ClientTokens = clientTokens ?? RegistrySettings.Default.ClientTokens,
            Storage = storage ?? new StorageSettings(),
        };
        Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(Settings);
    }

    /// <summary>A single-platform image of <paramref name="layers"/>, pushed to the parent as <paramref name="repository"/>:v1.</summary>
    public Task<TestBlob> PushImageToParentAsync(string repository, params TestBlob[] layers) => Parent.PushImageAsync(Layout, repository, layers);

    /// <summary>One sync pass, run directly (not by the scheduler).</summary>
    public async Task<SyncDownResult> RunPassAsync(CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await Sync.RunAsync(Settings, timeout.Token);
        return Sync.LastResult!;
    }

    /// <summary>A client for the parent that talks to it directly (not through the proxy).</summary>
    public ParentRegistryClient ParentClient() =>
        ParentClients.Client(Parent.Endpoint, new ParentCredentials(DockerRegistry.User, DockerRegistry.Password));

    private sealed class FixedTrust(X509Certificate2 root) : IParentTrustSource
    {
        public Task<X509Certificate2Collection?> GetRootsAsync(CancellationToken cancellationToken) =>
            Task.FromResult<X509Certificate2Collection?>([X509CertificateLoader.LoadCertificate(root.RawData)]);
    }

    public async ValueTask DisposeAsync()
    {
        await Child.DisposeAsync();
        Child.DeleteData();
        if (Proxy is not null)
        {
            await Proxy.DisposeAsync();
        }

        await Parent.DisposeAsync();
        TempDirectory.Delete(LayoutDir);
    }
}
