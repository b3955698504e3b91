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

    /// <summary>Makes the volume read-only (as a read-only mount of a data folder would be): every write fails with EROFS.</summary>
    public Task RemountReadOnlyAsync() => ToolAsync("mount", "-o", "remount,ro", Path);

    /// <summary>Writes a file until the volume is full (ENOSPC); the volume then has no free bytes.</summary>
    public void Fill()
    {
        using var file = new FileStream(System.IO.Path.Combine(Path, "filler"), FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        var block = new byte[64 * 1024];
        try
        {
            while (true)
            {
                file.Write(block);
                file.Flush();
            }
        }
        catch (IOException)
        {
            // full
        }
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
