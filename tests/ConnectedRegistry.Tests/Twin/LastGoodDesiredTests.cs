using ConnectedRegistry.Twin;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Twin;

public sealed class LastGoodDesiredTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "last-good-" + Guid.NewGuid().ToString("N"));

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
}
