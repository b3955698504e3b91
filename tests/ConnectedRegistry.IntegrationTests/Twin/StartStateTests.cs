using ConnectedRegistry.Core;
using ConnectedRegistry.Hierarchy;
using ConnectedRegistry.Identity;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Twin;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;
using static ConnectedRegistry.IntegrationTests.Infrastructure.HierarchyHarness;

namespace ConnectedRegistry.IntegrationTests.Twin;

/// <summary>
/// What a restarted module reports before it knows anything of this run: the state its previous run last reported
/// (kept in the data volume), marked <c>fromPreviousRun</c>, not <c>Inactive</c> and the replayed document's version.
/// </summary>
public sealed class StartStateTests
{
    private const string Child = "edge-cell-7";
    private const string ChildPassword = "cell-7-sync-Passw0rd";

    [Fact]
    public async Task A_restart_reports_the_previous_runs_activation_and_desired_status_until_it_knows_its_own()
    {
        var parent = await StartAsync();
        var data = TempDirectory.Create("start-state");
        RegistryInstance? child = null;
        try
        {
            parent.Apply(ParentSettings("edge-line-7", new Dictionary<string, ChildRegistrySettings>
            {
                [Child] = new() { SyncTokenPasswordHash = Hash(ChildPassword), Repositories = ["apps/*"] },
            }));
            var desired = new JObject
            {
                ["schemaVersion"] = "1.0",
                ["name"] = Child,
                ["mode"] = "ReadOnly",
                ["parent"] = new JObject { ["endpoint"] = parent.BaseAddress.ToString() },
                ["sync"] = new JObject { ["repositories"] = new JArray("apps/*") },
                ["$version"] = 1,
            };

            // The first run: version 1 applies, the child activates at its parent and is Online; then version 2 is rejected.
            var firstTwin = RecordingTwin(desired, TimeSpan.Zero);
            child = await StartChildAsync(data, firstTwin);
            await Poll.UntilAsync(() => child.State() is { ActivationState: ActivationStates.Active, ConnectionState: ConnectionStates.Online }, "the first run is Active and Online");
            await firstTwin.Starts[0].OnDesiredPatchAsync(new JObject { ["mode"] = "Sideways" }, 2, CancellationToken.None);
            await Poll.UntilAsync(() => (long?)firstTwin.Reported["lastDesiredVersion"] == 2, "the first run reports version 2 rejected");
            await child.DisposeAsync();
            child = null;

            // The second run: edgeHub gives the twin only after 2 s. Meanwhile the last good document (version 1) runs,
            // and what is reported is what the first run last reported, said to be so.
            var twinGiven = DateTimeOffset.MaxValue;
            var secondTwin = RecordingTwin(desired.With("$version", 2).With("mode", "Sideways"), TimeSpan.FromSeconds(2), at => twinGiven = at);
            child = await StartChildAsync(data, secondTwin);
            var first = (Time: secondTwin.FirstPatchTime ?? throw new Xunit.Sdk.XunitException("no report before the twin arrived"), Patch: secondTwin.Patches[0]);
            Assert.True(first.Time < twinGiven, "the first report went out before the twin arrived");
            Assert.Equal(ActivationStates.Active, (string?)first.Patch["activationState"]);
            Assert.NotEqual(ConnectionStates.Offline, (string?)first.Patch["connectionState"]);
            Assert.Equal(2, (long?)first.Patch["lastDesiredVersion"]);
            Assert.Equal(400, (int?)first.Patch["lastDesiredStatus"]?["code"]);
            var members = first.Patch["fromPreviousRun"]?["members"]?.Values<string>().ToList() ?? [];
            Assert.Contains("lastDesiredVersion", members);
            Assert.Contains("lastDesiredStatus", members);
            Assert.NotNull(first.Patch["fromPreviousRun"]?["since"]);

            // Once this run has processed the twin, activated and passed once, every member is its own.
            await Poll.UntilAsync(() => secondTwin.Reported["fromPreviousRun"] is null or { Type: JTokenType.Null }, "fromPreviousRun is cleared");
            Assert.Equal(ActivationStates.Active, (string?)secondTwin.Reported["activationState"]);
            Assert.Equal(2, (long?)secondTwin.Reported["lastDesiredVersion"]);

            // The connection state is this run's own from its first pass on: Syncing while the pass runs, then Online.
            await Poll.UntilAsync(() => (string?)secondTwin.Reported["connectionState"] == ConnectionStates.Online, "this run's own pass ends Online");
        }
        finally
        {
            if (child is not null)
            {
                await child.DisposeAsync();
            }

            await parent.DisposeAsync();
            TempDirectory.Delete(data);
        }
    }

    private static Task<RegistryInstance> StartChildAsync(string data, RecordingModuleClient twin) =>
        StartAsync(data, syncPassword: ChildPassword, edge: new EdgeInstance("device-7", "registry", null), configure: builder =>
        {
            builder.Services.AddSingleton(new TwinOptions { ReportIntervalMs = 100 });
            builder.Services.AddSingleton(sp => new ModuleTwinService(sp, sp.GetRequiredService<RegistryOptions>(), sp.GetRequiredService<ModuleIdentitySource>(),
                sp.GetRequiredService<TwinOptions>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<DesiredPropertiesPipeline>(),
                sp.GetRequiredService<ReportedPropertiesReporter>(), sp.GetRequiredService<DirectMethodDispatcher>(),
                sp.GetRequiredService<ILogger<ModuleTwinService>>(), _ => twin));
        });

    /// <summary>
    /// A twin as edgeHub keeps it: gives its desired document <paramref name="delay"/> after the start (as a slow edgeHub
    /// does, while the reporter already sends) and keeps every reported patch; <paramref name="twinGiven"/> is told when.
    /// </summary>
    private static RecordingModuleClient RecordingTwin(JObject desired, TimeSpan delay, Action<DateTimeOffset>? twinGiven = null)
    {
        var twin = new RecordingModuleClient();
        twin.OnStart = async (handler, cancellationToken) =>
        {
            await Task.Delay(delay, cancellationToken);
            twinGiven?.Invoke(DateTimeOffset.UtcNow);
            await handler.OnTwinAsync((JObject)desired.DeepClone(), twin.Reported, cancellationToken);
        };
        return twin;
    }
}

internal static class JObjectWith
{
    public static JObject With(this JObject document, string name, JToken value)
    {
        var copy = (JObject)document.DeepClone();
        copy[name] = value;
        return copy;
    }
}
