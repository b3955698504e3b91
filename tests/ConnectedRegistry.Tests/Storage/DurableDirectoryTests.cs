using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Tests.Storage;

public class DurableDirectoryTests
{
    [Fact]
    public void Syncs_an_existing_folder()
    {
        var folder = Directory.CreateTempSubdirectory("durable-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "renamed"), "x");
            DurableDirectory.Sync(folder); // throws on any failure of open or fsync
            Assert.True(File.Exists(Path.Combine(folder, "renamed")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void A_missing_folder_is_an_IO_error_not_a_silent_success()
    {
        var missing = Path.Combine(Path.GetTempPath(), "durable-missing-" + Guid.NewGuid().ToString("N"));

        var error = Assert.Throws<IOException>(() => DurableDirectory.Sync(missing));

        Assert.Contains("errno 2", error.Message, StringComparison.Ordinal); // ENOENT
    }
}
