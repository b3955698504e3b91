using System.Runtime.InteropServices;

namespace ConnectedRegistry.Storage;

/// <summary>
/// Makes a rename durable: after a file is moved into a folder, the folder's own entry list must reach the
/// disk too, or a power cut can lose the rename while the metadata that points at the file survives. A blob
/// is renamed into place, its folder is synced here, and only then is the manifest that references it
/// committed to SQLite, so a power cut never leaves a manifest whose blob is missing.
/// </summary>
internal static partial class DurableDirectory
{
    private const int ReadOnly = 0; // O_RDONLY: a directory opens read-only on every Unix, whatever O_DIRECTORY's value is

    /// <summary>fsync of <paramref name="directory"/>. A no-op on Windows, where NTFS journals renames itself.</summary>
    public static void Sync(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var fd = Open(directory, ReadOnly);
        if (fd < 0)
        {
            throw new IOException($"cannot open a data folder to flush it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"flushing a data folder failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
