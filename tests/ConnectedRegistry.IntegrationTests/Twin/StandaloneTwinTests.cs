using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using ConnectedRegistry.Twin;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Twin;

/// <summary>The real app with no IoT Edge environment: the twin is a desired file and a reported file.</summary>
public sealed class StandaloneTwinTests : IAsyncLifetime
{
    private readonly string _folder = TempDirectory.Create("twin-files");
    private RegistryInstance? _module;

    private string DesiredFile => Path.Combine(_folder, "twin", "desired.json");

    private string ReportedFile => Path.Combine(_folder, "twin", "reported.json");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_module is not null)
        {
            await _module.DisposeAsync();
            _module.DeleteData();
        }

        TempDirectory.Delete(_folder);
    }

    private async Task<IRegistrySettingsSource> StartAsync()
    {
        _module = await RegistryInstance.StartAsync(
            extraArgs: ["--desired", DesiredFile, "--reported", ReportedFile, "--Twin:ReportIntervalMs", "100", "--Twin:FilePollIntervalMs", "100"],
            configure: b => b.Services.AddSingleton(new ModuleEnvironment(new Dictionary<string, string>())));
        return _module.App.Services.GetRequiredService<IRegistrySettingsSource>();
    }

    private JObject? Reported()
    {
        try
        {
            return File.Exists(ReportedFile) ? TwinJson.ParseObject(File.ReadAllText(ReportedFile)) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    [Fact]
    public async Task The_desired_file_is_applied_at_start_and_again_when_it_changes()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(DesiredFile)!);
        await File.WriteAllTextAsync(DesiredFile, """{ "schemaVersion": "1.0", "name": "standalone-1", "mode": "ReadOnly" }""");

        var settings = await StartAsync();

        Assert.Equal("standalone-1", settings.Current.Name); // applied before the registry serves
        Assert.Equal(RegistryMode.ReadOnly, settings.Current.Mode);
        await Poll.UntilAsync(() => Reported()?["lastDesiredVersion"]?.Value<long>() == 1 && Reported()?["loginServer"] is JObject, "reported file written");
        Assert.Equal(_module!.HostPort, Reported()!["loginServer"]!["host"]!.Value<string>());

        await File.WriteAllTextAsync(DesiredFile, """{ "schemaVersion": "1.0", "name": "standalone-1", "anonymousPull": true }""");

        await Poll.UntilAsync(() => settings.Current.AnonymousPull, "the changed file applied");
        Assert.Equal(RegistryMode.ReadWrite, settings.Current.Mode); // a member removed from the file returns to its default
        await Poll.UntilAsync(() => Reported()?["lastDesiredVersion"]?.Value<long>() == 2, "version 2 reported");
        Assert.DoesNotContain(Directory.GetFiles(Path.GetDirectoryName(ReportedFile)!), f => f.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_broken_desired_file_keeps_the_last_good_settings_and_reports_400()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(DesiredFile)!);
        await File.WriteAllTextAsync(DesiredFile, """{ "name": "standalone-2" }""");
        var settings = await StartAsync();

        await File.WriteAllTextAsync(DesiredFile, """{ "name": "standalone-2", "mode": """);

        await Poll.UntilAsync(() => Reported()?["lastDesiredStatus"]?["code"]?.Value<int>() == 400, "400 reported");
        Assert.StartsWith("rejected, the last good settings stay in force: the desired properties file is not a JSON object", Reported()!["lastDesiredStatus"]!["description"]!.Value<string>(), StringComparison.Ordinal);
        Assert.Equal("standalone-2", settings.Current.Name);

        await File.WriteAllTextAsync(DesiredFile, """{ "name": "standalone-2", "storage": { "minFreeBytes": 1e400 } }""");
        // The module may read the file while it is being written (truncated, then written): that read is rejected too
        // and reported first, so the wait is for this document's own reason.
        await Poll.UntilAsync(() => Description() == "rejected, the last good settings stay in force: storage.minFreeBytes: the number is out of range", "the out-of-range number's rejection reported");
        Assert.True(Reported()!["lastDesiredVersion"]!.Value<long>() >= 3);

        await File.WriteAllTextAsync(DesiredFile, """{ "name": "standalone-2", "clientTokens": { "t": { "passwordHash": "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=", "scopeMap": { "a": ["content/nope"] } } } }""");
        await Poll.UntilAsync(() => Description() == "rejected, the last good settings stay in force: clientTokens.t: 'a' has unknown action 'content/nope' (known: content/read, content/write, content/delete, metadata/read, metadata/write)", "the unknown action's rejection reported");
        Assert.True(Reported()!["lastDesiredVersion"]!.Value<long>() >= 4);
        Assert.Empty(settings.Current.ClientTokens);

        string? Description() => Reported()?["lastDesiredStatus"]?["description"]?.Value<string>();
    }

    [Fact]
    public async Task The_log_level_from_the_twin_is_applied_to_the_running_logger()
    {
        var settings = await StartAsync(); // the test host logs Warning and above
        var logger = _module!.App.Services.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>().CreateLogger("ConnectedRegistry.Sync.Probe");
        Assert.False(logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug));

        Directory.CreateDirectory(Path.GetDirectoryName(DesiredFile)!);
        await File.WriteAllTextAsync(DesiredFile, """{ "logLevel": "Debug" }""");
        await Poll.UntilAsync(() => logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug), "Debug enabled");
        Assert.Equal("Debug", settings.Current.LogLevel);

        await File.WriteAllTextAsync(DesiredFile, """{ "logLevel": "Error" }""");
        await Poll.UntilAsync(() => !logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Warning), "Warning disabled");
    }
}
