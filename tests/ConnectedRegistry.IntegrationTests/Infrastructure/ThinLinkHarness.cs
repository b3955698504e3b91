using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A docker-registry parent behind a <see cref="LinkEmulator"/>, and this module as the child with its default sync
/// options, configured through its standalone desired-properties file (the real twin pipeline) and syncing on its
/// own scheduler. Used by the thin-link tests and the thin-link benchmark.
/// </summary>
public sealed class ThinLinkHarness : IAsyncDisposable
{
    private readonly string _twinDir;

    private ThinLinkHarness(DockerRegistry parent, LinkEmulator link, string layoutDir, string twinDir)
    {
        Parent = parent;
        Link = link;
        LayoutDir = layoutDir;
        Layout = new OciLayoutBuilder(layoutDir);
        _twinDir = twinDir;
    }

    public DockerRegistry Parent { get; }

    public LinkEmulator Link { get; }

    public RegistryInstance? Child { get; private set; }

    public string LayoutDir { get; }

    public OciLayoutBuilder Layout { get; }

    public string DesiredFile => Path.Combine(_twinDir, "desired.json");

    public string ReportedFile => Path.Combine(_twinDir, "reported.json");

    public RegistryStore Store => Child!.App.Services.GetRequiredService<RegistryStore>();

    public static async Task<ThinLinkHarness> StartAsync()
    {
        var parent = await DockerRegistry.StartNewAsync();
        return new ThinLinkHarness(parent, LinkEmulator.Start(parent.Endpoint), TempDirectory.Create("layout"), TempDirectory.Create("twin"));
    }

    /// <summary>Pushes a single-platform image of <paramref name="layers"/> to the parent (directly, not over the link).</summary>
    public Task<TestBlob> PushAsync(string repository, params TestBlob[] layers) => Parent.PushImageAsync(Layout, repository, layers);

    /// <summary>Writes the desired file: the parent over the link, continuous sync of <paramref name="repositories"/>, and <paramref name="bandwidth"/>.</summary>
    public async Task DesireAsync(IReadOnlyList<string> repositories, JObject? bandwidth = null)
    {
        var sync = new JObject { ["schedule"] = "* * * * *", ["repositories"] = new JArray(repositories) };
        if (bandwidth is not null)
        {
            sync["bandwidth"] = bandwidth;
        }

        var desired = new JObject
        {
            ["name"] = "thin-child",
            ["mode"] = "ReadOnly",
            ["parent"] = new JObject { ["endpoint"] = Link.AddressFor(Parent.Endpoint).ToString(), ["syncTokenName"] = DockerRegistry.User },
            ["sync"] = sync,
        };
        var temp = DesiredFile + ".tmp";
        await File.WriteAllTextAsync(temp, TwinJson.Serialize(desired));
        File.Move(temp, DesiredFile, overwrite: true);
    }

    /// <summary>
    /// Starts the child (after the desired file is written): default sync and scheduler options. With
    /// <paramref name="trace"/>, the sync engine's log at Debug goes there too, on the link's clock.
    /// </summary>
    public async Task StartChildAsync(System.Collections.Concurrent.ConcurrentQueue<(TimeSpan At, string What)>? trace = null)
    {
        Child = await RegistryInstance.StartAsync(
            extraArgs: ["--desired", DesiredFile, "--reported", ReportedFile, "--Twin:ReportIntervalMs", "100", "--Twin:FilePollIntervalMs", "100"],
            configure: b =>
            {
                b.Services.AddSingleton(new ModuleEnvironment(new Dictionary<string, string>()));
                b.Services.AddSingleton(new SyncEnvironment(name => name == ParentCredentials.PasswordVariable ? DockerRegistry.Password : null));
                if (trace is not null)
                {
                    b.Logging.AddProvider(new TraceLog(trace, () => Link.Elapsed));
                    b.Logging.AddFilter<TraceLog>("ConnectedRegistry", LogLevel.Debug);
                }
            });
    }

    public bool HasTag(string repository, TestBlob manifest) =>
        Store.ListTags(repository).Any(t => t.Tag == "v1" && t.Digest == manifest.Digest);

    public JObject? Reported()
    {
        try
        {
            return File.Exists(ReportedFile) ? TwinJson.ParseObject(File.ReadAllText(ReportedFile)) : null;
        }
        catch (Exception ex) when (ex is IOException or Newtonsoft.Json.JsonException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Child is not null)
        {
            await Child.DisposeAsync();
            Child.DeleteData();
        }

        await Link.DisposeAsync();
        await Parent.DisposeAsync();
        TempDirectory.Delete(LayoutDir);
        TempDirectory.Delete(_twinDir);
    }
}

/// <summary>Log lines into a trace, stamped with a clock of the test's (the link's), for a timeline of a run.</summary>
internal sealed class TraceLog(System.Collections.Concurrent.ConcurrentQueue<(TimeSpan At, string What)> trace, Func<TimeSpan> clock) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(trace, clock, categoryName[(categoryName.LastIndexOf('.') + 1)..]);

    public void Dispose()
    {
    }

    private sealed class Logger(System.Collections.Concurrent.ConcurrentQueue<(TimeSpan At, string What)> trace, Func<TimeSpan> clock, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            trace.Enqueue((clock(), $"{category} {eventId.Id}: {formatter(state, exception)}"));
    }
}
