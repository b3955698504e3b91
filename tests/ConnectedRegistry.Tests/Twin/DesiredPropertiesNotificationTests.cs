using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.Tests.Twin;

/// <summary>
/// Settings changes reach their subscribers after the pipeline's lock is released, in the order they were
/// applied, one at a time; a subscriber that reads the pipeline, reports or applies settings itself does not
/// deadlock. (Deadlocks would hang, so every wait is bounded and a timeout fails the test.)
/// </summary>
public class DesiredPropertiesNotificationTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private readonly RegistrySettingsStore _store = new();
    private readonly DesiredPropertiesPipeline _pipeline;

    public DesiredPropertiesNotificationTests() =>
        _pipeline = new DesiredPropertiesPipeline(_store, NullLogger<DesiredPropertiesPipeline>.Instance);

    private DesiredStatus Apply(string name, long version) =>
        _pipeline.ApplyFull(TwinJson.ParseObject($$"""{ "name": "{{name}}" }"""), version);

    [Fact]
    public async Task A_change_applied_while_a_subscriber_still_handles_the_previous_one_waits_its_turn()
    {
        var first = new List<string>();
        var second = new List<string>();
        var statuses = new List<long>();
        using var inFirst = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        _store.Changed += settings =>
        {
            first.Add(settings.Name!);
            if (settings.Name == "alpha-one")
            {
                inFirst.Set();
                Assert.True(release.Wait(Bound), "the test never released the first subscriber");
            }
        };
        _store.Changed += settings => second.Add(settings.Name!);
        _pipeline.StatusChanged += status => statuses.Add(status.Version);

        var applyA = Task.Run(() => Apply("alpha-one", 1));
        Assert.True(inFirst.Wait(Bound), "A never reached its first subscriber");

        // The pipeline's lock is free while A is being delivered: B applies at once and is queued behind A.
        var applyB = Task.Run(() => Apply("bravo-two", 2));
        Assert.Equal(200, (await applyB.WaitAsync(Bound)).Code);
        Assert.Equal("bravo-two", _store.Current.Name);
        Assert.Equal(2, _pipeline.Status.Version);
        Assert.Equal(["alpha-one"], first);
        Assert.Empty(second);

        release.Set();
        await applyA.WaitAsync(Bound);

        Assert.Equal(["alpha-one", "bravo-two"], first);
        Assert.Equal(["alpha-one", "bravo-two"], second);
        Assert.Equal([1L, 2L], statuses);
    }

    [Fact]
    public void A_subscriber_that_applies_settings_itself_sees_its_change_after_the_current_one_everywhere()
    {
        var first = new List<string>();
        var second = new List<string>();
        _store.Changed += settings =>
        {
            first.Add(settings.Name!);
            if (settings.Name == "alpha-one")
            {
                Assert.Equal(200, _pipeline.ApplyPatch(TwinJson.ParseObject("""{ "name": "bravo-two" }"""), 2).Code);
            }
        };
        _store.Changed += settings => second.Add(settings.Name!);

        Apply("alpha-one", 1);

        Assert.Equal(["alpha-one", "bravo-two"], first);
        Assert.Equal(["alpha-one", "bravo-two"], second);
        Assert.Equal("bravo-two", _store.Current.Name);
    }

    [Fact]
    public async Task A_subscriber_waiting_for_another_thread_that_reads_the_pipeline_and_reports_does_not_deadlock()
    {
        var reporter = new ReportedPropertiesReporter(new ModuleState(), _pipeline, new TwinOptions(), new FakeTimeProvider(), NullLogger<ReportedPropertiesReporter>.Instance);
        var reported = new List<long>();
        _store.Changed += _ =>
        {
            // What the reporter's loop and the activation do from their own threads while the change is delivered.
            var other = Task.Run(() =>
            {
                var document = reporter.Current();
                Assert.Equal("alpha-one", _pipeline.Desired["name"]!.ToString());
                return document["lastDesiredVersion"]!.ToObject<long>();
            });
            Assert.True(other.Wait(Bound), "reading the pipeline from another thread blocked during delivery");
            reported.Add(other.Result);
        };

        await Task.Run(() => Apply("alpha-one", 7)).WaitAsync(Bound);

        Assert.Equal([7L], reported);
    }

    [Fact]
    public async Task A_subscriber_waiting_for_another_thread_that_applies_settings_does_not_deadlock()
    {
        var seen = new List<string>();
        _store.Changed += settings =>
        {
            seen.Add(settings.Name!);
            if (settings.Name == "alpha-one")
            {
                Assert.True(Task.Run(() => Apply("bravo-two", 2)).Wait(Bound), "applying from another thread blocked during delivery");
            }
        };

        await Task.Run(() => Apply("alpha-one", 1)).WaitAsync(Bound);

        Assert.Equal(["alpha-one", "bravo-two"], seen);
    }

    [Fact]
    public async Task Concurrent_changes_reach_every_subscriber_in_the_order_they_were_applied_one_at_a_time()
    {
        const int perThread = 60;
        var subscribers = Enumerable.Range(0, 3).Select(_ => new Recorder()).ToList();
        foreach (var subscriber in subscribers)
        {
            _store.Changed += subscriber.Record;
        }

        var statuses = new List<long>();
        _pipeline.StatusChanged += status => statuses.Add(status.Version);

        using var start = new ManualResetEventSlim();
        var writers = Enumerable.Range(0, 2).Select(thread => Task.Run(() =>
        {
            start.Wait();
            for (var i = 0; i < perThread; i++)
            {
                var version = (thread * 1000) + i + 1;
                Apply($"reg-{version}", version);
            }
        })).ToList();
        start.Set();
        await Task.WhenAll(writers).WaitAsync(Bound);

        // The statuses are posted under the same lock as the settings, so their order is the order of application.
        var applied = statuses.Select(v => $"reg-{v}").ToList();
        Assert.Equal(2 * perThread, applied.Count);
        Assert.Equal(applied[^1], _store.Current.Name);
        foreach (var subscriber in subscribers)
        {
            Assert.Equal(applied, subscriber.Seen);
            Assert.Equal(1, subscriber.MostAtOnce);
        }
    }

    private sealed class Recorder
    {
        private int _inside;

        public List<string> Seen { get; } = [];

        public int MostAtOnce { get; private set; }

        public void Record(RegistrySettings settings)
        {
            var inside = Interlocked.Increment(ref _inside);
            MostAtOnce = Math.Max(MostAtOnce, inside);
            Seen.Add(settings.Name!);
            Thread.SpinWait(200);
            Interlocked.Decrement(ref _inside);
        }
    }
}
