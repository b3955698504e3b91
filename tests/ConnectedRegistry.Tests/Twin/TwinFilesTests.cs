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
}
