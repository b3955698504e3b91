using System.Formats.Tar;
using ConnectedRegistry.Bundles;
using ConnectedRegistry.Core;
using ConnectedRegistry.Hosting;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// Offline bundles end to end: headquarters' registry (a real docker-registry with htpasswd), a counting
/// <see cref="ForwardingProxy"/> in front of it for the site's own sync, the site (a real instance of this module,
/// named <see cref="SiteName"/>, trusting the harness's exporter key), and the <c>bundle</c> command run in-process
/// with the same arguments a user types. The site's schedule never opens: tests run sync passes themselves.
/// </summary>
public sealed class BundleHarness : IAsyncDisposable
{
    public const string SiteName = "site-registry";

    private BundleHarness(DockerRegistry parent, ForwardingProxy proxy, RegistryInstance site, string work)
    {
        Parent = parent;
        Proxy = proxy;
        Site = site;
        Work = work;
        Layout = new OciLayoutBuilder(Path.Combine(work, "layout"));
    }

    public DockerRegistry Parent { get; }

    public ForwardingProxy Proxy { get; }

    public RegistryInstance Site { get; }

    /// <summary>Scratch folder of the test: the layout, the keys, the bundles, the state files.</summary>
    public string Work { get; }

    public OciLayoutBuilder Layout { get; }

    public string KeyPath => Path.Combine(Work, "keys", "exporter.pem");

    public RegistrySettings Settings { get; private set; } = RegistrySettings.Default;

    public RegistryStore Store => Site.App.Services.GetRequiredService<RegistryStore>();

    public ModuleState State => Site.App.Services.GetRequiredService<ModuleState>();

    public static async Task<BundleHarness> StartAsync(RegistryMode mode = RegistryMode.ReadWrite, IReadOnlyList<string>? repositories = null, Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configure = null)
    {
        var parent = await DockerRegistry.StartNewAsync();
        var proxy = await ForwardingProxy.StartAsync(parent.Endpoint);
        var site = await RegistryInstance.StartAsync(configure: builder =>
        {
            builder.Services.AddSingleton(SyncHarness.FastOptions);
            builder.Services.AddSingleton(new SyncSchedulerOptions { IdleDelay = TimeSpan.FromMilliseconds(200), RetryDelay = TimeSpan.FromMilliseconds(200) });
            builder.Services.AddSingleton(new SyncEnvironment(name => name == ParentCredentials.PasswordVariable ? DockerRegistry.Password : null));
            configure?.Invoke(builder);
        });
        var harness = new BundleHarness(parent, proxy, site, TempDirectory.Create("bundles"));
        var keygen = await harness.BundleAsync("keygen", "--key", harness.KeyPath);
        Assert.True(keygen.Code == 0, keygen.Error);
        var trusted = (string)JObject.Parse(keygen.Output)["desired"]!["bundles"]!["trustedKeys"]![0]!;
        harness.Configure(mode, repositories ?? ["apps/*"], [trusted]);
        return harness;
    }

    /// <summary>The site's settings: its name, the proxy as parent, an idle schedule, the subset and the trusted keys.</summary>
    public void Configure(RegistryMode mode, IReadOnlyList<string> repositories, IReadOnlyList<string> trustedKeys, IReadOnlyDictionary<string, ChildRegistrySettings>? children = null)
    {
        Settings = new RegistrySettings
        {
            Name = SiteName,
            Mode = mode,
            Parent = new ParentSettings { Endpoint = Proxy.Address, SyncTokenName = DockerRegistry.User },
            Sync = SyncHarness.Idle with { Repositories = repositories, OnDemand = false },
            Children = children ?? new Dictionary<string, ChildRegistrySettings>(),
            Bundles = new BundleSettings
            {
                TrustedKeys = [.. trustedKeys.Select(k => TrustedBundleKey.TryParse(k, out var key, out var reason) ? key! : throw new ArgumentException(reason))],
            },
        };
        Site.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(Settings);
    }

    public void Apply(RegistrySettings settings)
    {
        Settings = settings;
        Site.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(settings);
    }

    /// <summary>Runs <c>bundle ARGS</c> in-process as the executable does (the parent's password in its environment).</summary>
    public static async Task<(int Code, string Output, string Error)> RunBundleAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await BundleCommand.RunAsync(args, output, error, dataArgs => RegistryHost.Build(dataArgs, b => b.Logging.SetMinimumLevel(LogLevel.Warning)), StoredDesiredSettings.Read,
            name => name == ParentCredentials.PasswordVariable ? DockerRegistry.Password : null);
        return (code, output.ToString(), error.ToString());
    }

    public Task<(int Code, string Output, string Error)> BundleAsync(params string[] args) => RunBundleAsync(args);

    /// <summary><c>bundle export</c> from headquarters' registry into <see cref="Work"/>/<paramref name="name"/>; asserts it succeeded.</summary>
    public async Task<string> ExportAsync(string name, string? since = null, string? registry = SiteName, string? key = null, params string[] repositories)
    {
        var result = await RunBundleAsync(ExportArguments(name, since, registry, key, Parent.Endpoint, repositories));
        Assert.True(result.Code == 0, $"export exited {result.Code}: {result.Error}");
        return Path.Combine(Work, name);
    }

    /// <summary>The arguments of <c>bundle export</c> into <see cref="Work"/>/<paramref name="name"/>.</summary>
    public string[] ExportArguments(string name, string? since, string? registry, string? key, Uri parent, params string[] repositories)
    {
        var output = Path.Combine(Work, name);
        List<string> args = ["export", "--parent", parent.ToString(), "--user", DockerRegistry.User, "--key", key ?? KeyPath, "--output", output];
        if (registry is not null)
        {
            args.AddRange(["--registry", registry]);
        }

        if (since is not null)
        {
            args.AddRange(["--since", since]);
        }

        foreach (var repository in repositories)
        {
            args.AddRange(["--repository", repository]);
        }

        return [.. args];
    }

    /// <summary>The site's state through the <c>bundleState</c> method: the file it wrote, copied to <see cref="Work"/>.</summary>
    public async Task<string> StateAsync(string name)
    {
        var answer = await InvokeAsync("bundleState", new JObject { ["file"] = name });
        Assert.Equal(200, answer.Status);
        var copy = Path.Combine(Work, name);
        File.Copy(Path.Combine(Site.DataRoot, (string)answer.Payload["path"]!), copy, overwrite: true);
        return copy;
    }

    /// <summary>Carries a bundle into the site's data volume (as a courier's disk would be mounted) and imports it with <c>importBundle</c>; returns the status detail.</summary>
    public async Task<StatusDetail> ImportAsync(string bundle)
    {
        var inVolume = Path.Combine(BundlePaths.Folder, Path.GetFileName(bundle));
        Directory.CreateDirectory(Path.Combine(Site.DataRoot, BundlePaths.Folder));
        File.Copy(bundle, Path.Combine(Site.DataRoot, inVolume), overwrite: true);
        State.ClearStatusDetail(BundleImporter.StatusCode);
        var answer = await InvokeAsync("importBundle", new JObject { ["path"] = inVolume });
        Assert.True(answer.Status == 202, answer.Payload.ToString());
        return await Poll.ForAsync(() => State.Snapshot().StatusDetails.FirstOrDefault(d => d.Code == BundleImporter.StatusCode), "the import's status detail", TimeSpan.FromSeconds(60));
    }

    /// <summary>Imports directly (the method's work, awaited): the result, or the refusal.</summary>
    public Task<BundleImportResult> ImportNowAsync(string bundle) =>
        Site.App.Services.GetRequiredService<BundleImporter>().ImportAsync(bundle, CancellationToken.None);

    public Task<DirectMethodResult> InvokeAsync(string method, JObject? payload) =>
        Site.App.Services.GetRequiredService<DirectMethodDispatcher>().DispatchAsync(method, payload?.ToString() ?? string.Empty, CancellationToken.None);

    /// <summary>One sync pass of the site through the counting proxy.</summary>
    public async Task<SyncDownResult> SyncPassAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var sync = Site.App.Services.GetRequiredService<ParentSync>();
        await sync.RunAsync(Settings, timeout.Token);
        return sync.LastResult!;
    }

    /// <summary>Everything the site holds that a refused import must leave as it was: repositories, tags, blob files, staged files.</summary>
    public string Snapshot()
    {
        var files = new[] { "blobs", "partial", "staging" }
            .Select(d => Path.Combine(Site.DataRoot, d))
            .Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories))
            .Select(f => Path.GetRelativePath(Site.DataRoot, f))
            .Order(StringComparer.Ordinal);
        var tags = Store.ListRepositories().SelectMany(r => Store.ListTags(r).Select(t => $"{r}:{t.Tag}@{t.Digest}"));
        return string.Join('\n', tags.Concat(files));
    }

    /// <summary>The signed descriptor inside a bundle.</summary>
    public static BundleDescriptor ReadDescriptor(string bundle) => BundleDescriptor.Parse(ReadEntry(bundle, BundleFormat.DescriptorFile));

    public static byte[] ReadEntry(string bundle, string name)
    {
        using var reader = new TarReader(File.OpenRead(bundle));
        while (reader.GetNextEntry() is { } entry)
        {
            if (entry.Name == name)
            {
                using var memory = new MemoryStream();
                entry.DataStream!.CopyTo(memory);
                return memory.ToArray();
            }
        }

        throw new InvalidOperationException($"{name} is not in {bundle}");
    }

    /// <summary>Copies a bundle, passing every entry through <paramref name="change"/> (name, bytes → bytes, or null to leave the entry out).</summary>
    public static string Rewrite(string bundle, string output, Func<string, byte[], byte[]?> change)
    {
        using var reader = new TarReader(File.OpenRead(bundle));
        using var writer = new TarWriter(File.Create(output), TarEntryFormat.Pax);
        while (reader.GetNextEntry() is { } entry)
        {
            using var memory = new MemoryStream();
            entry.DataStream?.CopyTo(memory);
            if (change(entry.Name, memory.ToArray()) is { } bytes)
            {
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, entry.Name) { DataStream = new MemoryStream(bytes) });
            }
        }

        return output;
    }

    public async ValueTask DisposeAsync()
    {
        await Site.DisposeAsync();
        Site.DeleteData();
        await Proxy.DisposeAsync();
        await Parent.DisposeAsync();
        TempDirectory.Delete(Work);
    }
}
