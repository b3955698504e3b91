using ConnectedRegistry.Testing;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.Time.Testing;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Twin;

/// <summary>The files the twin keeps in the data folder and beside it: the last good desired document and the standalone reported file.</summary>
public sealed class TwinFilesTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "twin-files-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Saved_document_loads_back_with_its_version()
    {
        var store = new LastGoodDesired(Path.Combine(_folder, "twin", "last-good-desired.json"));
        store.Save(new JObject { ["mode"] = "ReadOnly" }, 7);

        Assert.True(store.TryLoad(out var desired, out var version));
        Assert.Equal(7, version);
        Assert.Equal("ReadOnly", (string?)desired["mode"]);
        Assert.Single(Directory.GetFiles(Path.Combine(_folder, "twin")));
    }

    [Fact]
    public void A_save_that_fails_leaves_no_temporary_file_behind()
    {
        // The target cannot be replaced (a folder stands in its place, as a full or broken volume would refuse the write).
        var path = Path.Combine(_folder, "twin", "last-good-desired.json");
        Directory.CreateDirectory(path);
        var store = new LastGoodDesired(path);

        Assert.ThrowsAny<IOException>(() => store.Save(new JObject { ["mode"] = "ReadOnly" }, 3));

        Assert.Empty(Directory.GetFiles(Path.Combine(_folder, "twin")));
    }

    [Fact]
    public async Task A_reported_file_write_that_fails_leaves_no_temporary_file_behind()
    {
        // Standalone mode writes the reported file on every patch (retried every few seconds while it fails).
        var reported = Path.Combine(_folder, "twin", "reported.json");
        Directory.CreateDirectory(reported);
        var client = new FileModuleClient(Path.Combine(_folder, "desired.json"), reported, new TwinOptions(), new FakeTimeProvider(),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<FileModuleClient>.Instance);

        for (var i = 0; i < 3; i++)
        {
            await Assert.ThrowsAnyAsync<IOException>(() => client.UpdateReportedAsync(new JObject { ["attempt"] = i }, default));
        }

        Assert.Empty(Directory.GetFiles(Path.Combine(_folder, "twin")));
        await client.DisposeAsync();
    }

    [Fact]
    public async Task A_desired_file_caught_half_written_is_no_rejection_and_one_that_stays_broken_for_a_second_is()
    {
        // An editor that truncates the file and then writes it, stalled in between on a busy device: the poll (every
        // 100 ms here) sees the half document for 900 ms. That is no rejection; the whole document is then applied.
        Directory.CreateDirectory(_folder);
        var desired = Path.Combine(_folder, "desired.json");
        await File.WriteAllTextAsync(desired, """{ "name": "first" }""");
        var time = new FakeTimeProvider();
        var handler = new Handler();
        var client = new FileModuleClient(desired, Path.Combine(_folder, "reported.json"), new TwinOptions { FilePollIntervalMs = 100 }, time,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<FileModuleClient>.Instance);
        await client.StartAsync(handler, default);
        Assert.Equal(["first"], handler.Names);

        await File.WriteAllTextAsync(desired, """{ "name": "sec""");
        await TicksAsync(9);
        Assert.Empty(handler.Reasons);
        await File.WriteAllTextAsync(desired, """{ "name": "second" }""");
        await TicksAsync(1);
        Assert.Equal(["first", "second"], handler.Names);
        Assert.Empty(handler.Reasons);

        // Text that stays unreadable is reported once it has stayed so for FileModuleClient.BrokenSettle (a second).
        await File.WriteAllTextAsync(desired, """{ "name": """);
        await TicksAsync(10); // read first at the first tick: 900 ms so far
        Assert.Empty(handler.Reasons);
        await TicksAsync(1);
        Assert.StartsWith("the desired properties file is not a JSON object", Assert.Single(handler.Reasons), StringComparison.Ordinal);
        await TicksAsync(3);
        Assert.Single(handler.Reasons); // reported once, not at every tick
        Assert.Equal(["first", "second"], handler.Names); // the last good document stays
        await client.DisposeAsync();

        async Task TicksAsync(int ticks)
        {
            for (var i = 0; i < ticks; i++)
            {
                var before = client.Polls;
                time.Advance(TimeSpan.FromMilliseconds(100));
                await Poll.UntilAsync(() => client.Polls > before, "the file poll ticked");
            }
        }
    }

    /// <summary>What the file client handed on: the names of the documents and the reasons of the unreadable ones.</summary>
    private sealed class Handler : IModuleClientHandler
    {
        public List<string?> Names { get; } = [];

        public List<string> Reasons { get; } = [];

        public Task OnTwinAsync(JObject desired, JObject reported, CancellationToken cancellationToken)
        {
            Names.Add((string?)desired["name"]);
            return Task.CompletedTask;
        }

        public Task OnDesiredPatchAsync(JObject patch, long version, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task OnDesiredUnreadableAsync(long version, string reason, CancellationToken cancellationToken)
        {
            Reasons.Add(reason);
            return Task.CompletedTask;
        }

        public Task<ConnectedRegistry.Core.DirectMethodResult> OnMethodAsync(string name, string payload, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public void OnConnectionChanged(bool connected)
        {
        }
    }
}
