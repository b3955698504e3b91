using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Twin;

/// <summary>
/// The twin service over a recording module client in IoT Edge mode: the whole twin and desired patches go in through the
/// handler the client is given, reported patches come out through the client; the real pipeline, reporter and
/// last-good file sit in between.
/// </summary>
public sealed class ModuleTwinServiceTests : IAsyncDisposable
{
    private readonly string _dataRoot = Directory.CreateTempSubdirectory("twin-service-").FullName;
    private readonly RegistrySettingsStore _settings = new();
    private readonly RecordingModuleClient _client = new() { Kind = "IoT Edge" };
    private readonly ModuleTwinService _service;
    private IModuleClientHandler? _handler;

    public ModuleTwinServiceTests()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero));
        var environment = new ModuleEnvironment(new Dictionary<string, string>
        {
            ["IOTEDGE_WORKLOADURI"] = "unix:///var/run/iotedge/workload.sock",
            ["IOTEDGE_DEVICEID"] = "edge-device",
            ["IOTEDGE_MODULEID"] = "ConnectedRegistry",
            ["IOTEDGE_IOTHUBHOSTNAME"] = "hub.example.net",
            ["IOTEDGE_MODULEGENERATIONID"] = "gen1",
            ["IOTEDGE_AUTHSCHEME"] = "sasToken",
        });
        var options = new TwinOptions { ReportIntervalMs = 0 };
        var pipeline = new DesiredPropertiesPipeline(_settings, NullLogger<DesiredPropertiesPipeline>.Instance);
        var reporter = new ReportedPropertiesReporter(new ModuleState(), pipeline, options, time, NullLogger<ReportedPropertiesReporter>.Instance);
        var services = new ServiceCollection().BuildServiceProvider();
        _service = new ModuleTwinService(
            services,
            new RegistryOptions { DataRoot = _dataRoot, DesiredFile = Path.Combine(_dataRoot, "unused-desired.json"), ReportedFile = Path.Combine(_dataRoot, "unused-reported.json") },
            new ModuleIdentitySource(environment, time),
            options,
            time,
            pipeline,
            reporter,
            new DirectMethodDispatcher(services, [], NullLogger<DirectMethodDispatcher>.Instance),
            NullLogger<ModuleTwinService>.Instance,
            identity => identity is not null ? _client : throw new InvalidOperationException("standalone mode chosen"));
    }

    public async ValueTask DisposeAsync()
    {
        await _service.StopAsync(CancellationToken.None);
        await _service.DisposeAsync();
        Directory.Delete(_dataRoot, recursive: true);
    }

    /// <summary>Starts the service; the client delivers <paramref name="desired"/> as the whole twin once started, as edgeHub does after a connect.</summary>
    private async Task StartAsync(string desired)
    {
        _client.OnStart = (handler, ct) =>
        {
            _handler = handler;
            return handler.OnTwinAsync(TwinJson.ParseObject(desired), new JObject(), ct);
        };
        await _service.StartAsync(CancellationToken.None);
    }

    /// <summary>Waits for the reported patch that carries <paramref name="version"/> as lastDesiredVersion.</summary>
    private Task<JObject> ReportedForVersionAsync(long version) =>
        Poll.ForAsync(() => _client.Patches.LastOrDefault(p => p["lastDesiredVersion"]?.Value<long>() == version), $"lastDesiredVersion {version} reported");

    [Fact]
    public async Task A_desired_twin_is_applied_and_reported_as_200_with_its_version()
    {
        await StartAsync("""{ "$version": 4, "schemaVersion": "1.0", "name": "line-one", "mode": "ReadOnly" }""");

        var reported = await ReportedForVersionAsync(4);

        Assert.Equal(200, reported["lastDesiredStatus"]!["code"]!.Value<int>());
        Assert.Equal("line-one", _settings.Current.Name);
        Assert.Equal(RegistryMode.ReadOnly, _settings.Current.Mode);
        Assert.Same(_service, Assert.Single(_client.Starts));
    }

    [Fact]
    public async Task A_bad_patch_is_reported_as_400_with_every_reason_and_the_last_good_settings_stay()
    {
        await StartAsync("""{ "$version": 1, "schemaVersion": "1.0", "name": "line-one", "mode": "ReadOnly" }""");
        await ReportedForVersionAsync(1);

        await _handler!.OnDesiredPatchAsync(TwinJson.ParseObject("""{ "$version": 2, "mode": "Sideways", "anonymousPull": "yes" }"""), 2, CancellationToken.None);

        var reported = await ReportedForVersionAsync(2);
        Assert.Equal(400, reported["lastDesiredStatus"]!["code"]!.Value<int>());
        var description = reported["lastDesiredStatus"]!["description"]!.Value<string>()!;
        Assert.Contains("mode 'Sideways' must be ReadWrite or ReadOnly", description, StringComparison.Ordinal);
        Assert.Contains("anonymousPull must be true or false", description, StringComparison.Ordinal);
        Assert.Equal(RegistryMode.ReadOnly, _settings.Current.Mode);
        Assert.False(_settings.Current.AnonymousPull);
        Assert.True(new LastGoodDesired(Path.Combine(_dataRoot, "twin", "last-good-desired.json")).TryLoad(out var saved, out var savedVersion));
        Assert.Equal(1, savedVersion); // the rejected version never replaces the last good document
        Assert.Equal("ReadOnly", saved["mode"]!.Value<string>());
    }

    [Fact]
    public async Task A_good_patch_after_a_rejected_one_is_applied_and_becomes_the_last_good_document()
    {
        await StartAsync("""{ "$version": 1, "schemaVersion": "1.0", "name": "line-one" }""");
        await _handler!.OnDesiredPatchAsync(TwinJson.ParseObject("""{ "$version": 2, "mode": "Sideways" }"""), 2, CancellationToken.None);
        await ReportedForVersionAsync(2);

        await _handler.OnDesiredPatchAsync(TwinJson.ParseObject("""{ "$version": 3, "mode": "ReadOnly" }"""), 3, CancellationToken.None);

        Assert.Equal(200, (await ReportedForVersionAsync(3))["lastDesiredStatus"]!["code"]!.Value<int>());
        Assert.Equal(RegistryMode.ReadOnly, _settings.Current.Mode);
        Assert.True(new LastGoodDesired(Path.Combine(_dataRoot, "twin", "last-good-desired.json")).TryLoad(out _, out var savedVersion));
        Assert.Equal(3, savedVersion);
    }

    [Fact]
    public async Task An_unreadable_document_is_reported_with_its_reason_and_changes_nothing()
    {
        await StartAsync("""{ "$version": 1, "schemaVersion": "1.0", "name": "line-one" }""");
        await ReportedForVersionAsync(1);

        await _handler!.OnDesiredUnreadableAsync(2, "sync.bandwidth.limitMbps: the number is out of range", CancellationToken.None);

        var reported = await ReportedForVersionAsync(2);
        Assert.Equal(400, reported["lastDesiredStatus"]!["code"]!.Value<int>());
        Assert.Equal("rejected, the last good settings stay in force: sync.bandwidth.limitMbps: the number is out of range", reported["lastDesiredStatus"]!["description"]!.Value<string>());
        Assert.Equal("line-one", _settings.Current.Name);
    }
}
