using System.Diagnostics;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>A small real filesystem (a tmpfs of a few MiB, mounted as root) for disk-full cases; unmounted and removed on dispose.</summary>
public sealed class TmpfsVolume : IAsyncDisposable
{
    private bool _mounted;

    private TmpfsVolume(string path)
    {
        Path = path;
    }

    public string Path { get; }

    public long FreeBytes => new DriveInfo(Path).AvailableFreeSpace;

    /// <summary>Mounts a tmpfs of <paramref name="megabytes"/> MiB on a new temporary folder.</summary>
    public static async Task<TmpfsVolume> MountAsync(string prefix, int megabytes)
    {
        var volume = new TmpfsVolume(TempDirectory.Create(prefix));
        await ToolAsync("mount", "-t", "tmpfs", "-o", $"size={megabytes}m", "tmpfs", volume.Path);
        volume._mounted = true;
        return volume;
    }

    public async ValueTask DisposeAsync()
    {
        if (_mounted)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools(); // pooled connections keep the databases on the mount open
            await ToolAsync("umount", "--lazy", Path);
            _mounted = false;
        }

        TempDirectory.Delete(Path);
    }

    private static async Task ToolAsync(string tool, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(tool, arguments) { RedirectStandardError = true })!;
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{tool} failed (mounting a tmpfs needs root): {stderr}");
    }
}
