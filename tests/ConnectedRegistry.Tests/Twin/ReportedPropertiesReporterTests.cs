using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Twin;

public class ReportedPropertiesReporterTests
{
    private readonly ModuleState _state = new();
    private readonly DesiredPropertiesPipeline _pipeline = new(new RegistrySettingsStore(), NullLogger<DesiredPropertiesPipeline>.Instance);

    private ReportedPropertiesReporter Reporter(int intervalMs = 0) =>
        new(_state, _pipeline, new TwinOptions { ReportIntervalMs = intervalMs }, new FakeTimeProvider(), NullLogger<ReportedPropertiesReporter>.Instance);

    [Fact]
    public async Task Only_the_difference_against_the_twin_is_sent_with_nulls_for_stale_members()
    {
        var reporter = Reporter();
        var current = reporter.Current();
        current.Remove("storage");
        current["oldMember"] = "from a previous version";
        reporter.Rebase(current);
        var client = new RecordingModuleClient();
        using var stop = new CancellationTokenSource();
        var run = reporter.RunAsync(client, stop.Token);

        await Poll.UntilAsync(() => client.Patches.Count >= 1, "a patch sent");
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);

        var patch = client.Patches[0];
        Assert.Equal(["storage", "oldMember"], patch.Properties().Select(p => p.Name).Order(StringComparer.Ordinal).Reverse());
        Assert.Equal(JTokenType.Null, patch["oldMember"]!.Type);
    }

    [Fact]
    public async Task A_refused_patch_is_not_sent_again_but_an_unconfirmed_one_is()
    {
        var reporter = Reporter();
        var client = new RecordingModuleClient { Failures = new Queue<Exception>([new TwinRequestRejectedException(400, "too large"), new TimeoutException()]) };
        using var stop = new CancellationTokenSource();
        var run = reporter.RunAsync(client, stop.Token);

        reporter.Signal();
        await Poll.UntilAsync(() => client.Attempts >= 1 && reporter.Waits >= 2, "the first attempt, and the loop waiting for a signal again");
        Assert.Equal(1, client.Attempts); // refused: nothing changed since, nothing resent

        _state.SetStorage(new StorageStatus(Blobs: 5));
        await Poll.UntilAsync(() => client.Patches.Count >= 1, "a patch sent"); // the timeout was retried with the next signal
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);

        Assert.Equal(3, client.Attempts);
        Assert.Equal(["storage"], client.Patches[^1].Properties().Select(p => p.Name));
    }
}
