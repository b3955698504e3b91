using System.Runtime.InteropServices;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Storage;

/// <summary>
/// Checks the data root (<c>--data</c> / <c>REGISTRY_DATA</c>) once at start-up, before anything is built on it:
/// it exists or can be created, is a folder, takes a file (created, written, flushed to disk and deleted), has room to
/// open the databases, and every folder and file the module will open in it is usable by the user the process runs
/// as. Without it each of these surfaced wherever the module first touched the disk (the token signing key, SQLite,
/// the last good desired document, the bundles folder), as an unhandled exception with a stack trace. Every failure
/// is a <see cref="StartupException"/> whose message names the option, the path, what is wrong and the fix; for a
/// permission problem it names the uid to give the folder to (in a container: the registry's user, not root).
/// </summary>
public static partial class DataRootCheck
{
    public const string Option = "--data (REGISTRY_DATA)";

    /// <summary>Free space below which the registry does not start: SQLite needs room for its write-ahead logs.</summary>
    public const long MinFreeBytes = 1L << 20;

    /// <summary>Entries looked at below the root at most (the root's and those of its direct folders): a bound on start-up time.</summary>
    private const int MaxEntries = 10_000;

    private const int ProbeBytes = 4096;
    private const int ReadOk = 4;
    private const int WriteOk = 2;
    private const int ExecuteOk = 1;
    private const int EPerm = 1;
    private const int ENotDir = 20;
    private const int EAccess = 13;
    private const int ENoSpace = 28;
    private const int EReadOnlyFileSystem = 30;
    private const int EQuota = 122;

    /// <summary>Runs the checks on <paramref name="root"/>.</summary>
    /// <param name="folders">The folders (relative to the root) the module's parts keep their files in; each must be a
    /// folder when it exists.</param>
    /// <exception cref="StartupException">The data root cannot be used; the message says why and how to fix it.</exception>
    public static void Run(string root, IEnumerable<string> folders)
    {
        root = Path.GetFullPath(root);
        if (File.Exists(root))
        {
            throw new StartupException($"{Option}: '{root}' is a file, not a folder; point the option at a folder (it is created when missing).");
        }

        if (FileAbove(root) is { } file)
        {
            throw new StartupException($"{Option}: '{root}' cannot be created because '{file}' is a file, not a folder; point the option at a folder.");
        }

        Attempt(root, root, () => Directory.CreateDirectory(root));
        Probe(root);
        FreeSpace(root);
        foreach (var folder in folders)
        {
            var path = Path.Combine(root, folder);
            if (File.Exists(path))
            {
                throw new StartupException($"{Option}: '{path}' is a file where the registry keeps a folder; move the file away.");
            }
        }

        Entries(root);
    }

    /// <summary>The nearest existing path above <paramref name="path"/> when it is a file (the folder can never be created there).</summary>
    private static string? FileAbove(string path)
    {
        for (var parent = Path.GetDirectoryName(path); parent is not null; parent = Path.GetDirectoryName(parent))
        {
            if (File.Exists(parent))
            {
                return parent;
            }

            if (Directory.Exists(parent))
            {
                return null;
            }
        }

        return null;
    }

    /// <summary>Creates, writes, flushes and deletes a file: proves the folder takes new files, on a volume that accepts writes.</summary>
    private static void Probe(string root)
    {
        var probe = Path.Combine(root, $".startup-check-{Environment.ProcessId}.tmp");
        Attempt(root, root, () =>
        {
            try
            {
                using var file = new FileStream(probe, FileMode.Create, FileAccess.Write, FileShare.None);
                file.Write(new byte[ProbeBytes]);
                file.Flush(flushToDisk: true);
            }
            finally
            {
                if (File.Exists(probe))
                {
                    File.Delete(probe);
                }
            }
        });
    }

    private static void FreeSpace(string root)
    {
        long free;
        try
        {
            free = new DriveInfo(root).AvailableFreeSpace;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return; // unknown: a volume that cannot say is not refused on a guess
        }

        if (free < MinFreeBytes)
        {
            throw Full(root, free);
        }
    }

    /// <summary>The root's entries and those of its direct folders: each readable and writable by this user (folders also searchable).</summary>
    private static void Entries(string root)
    {
        var seen = 0;
        foreach (var entry in Attempt(root, root, () => Directory.EnumerateFileSystemEntries(root).ToList()))
        {
            var folder = Directory.Exists(entry);
            Access(root, entry, folder);
            if (!folder)
            {
                continue;
            }

            foreach (var inner in Attempt(root, entry, () => Directory.EnumerateFileSystemEntries(entry).Take(MaxEntries - seen).ToList()))
            {
                Access(root, inner, Directory.Exists(inner));
                seen++;
            }

            if (seen >= MaxEntries)
            {
                return;
            }
        }
    }

    private static void Access(string root, string path, bool folder)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        if (AccessNative(path, ReadOk | WriteOk | (folder ? ExecuteOk : 0)) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw Problem(root, path, errno, Marshal.GetPInvokeErrorMessage(errno));
        }
    }

    private static T Attempt<T>(string root, string path, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (UnauthorizedAccessException ex)
        {
            throw Problem(root, path, ex.InnerException?.HResult is EPerm ? EPerm : EAccess, ex.Message);
        }
        catch (IOException ex)
        {
            throw Problem(root, path, ex.HResult, ex.Message);
        }
    }

    private static void Attempt(string root, string path, Action action) => Attempt(root, path, () =>
    {
        action();
        return true;
    });

    private static StartupException Problem(string root, string path, int errno, string reason) => errno switch
    {
        EAccess or EPerm => NotWritable(root, path),
        EReadOnlyFileSystem => new StartupException($"{Option}: '{path}' is on a read-only file system; mount the volume read-write (the registry keeps its blobs and databases there)."),
        ENoSpace or EQuota => Full(root, FreeBytes(root)),
        ENotDir => new StartupException($"{Option}: a part of '{path}' is a file, not a folder; point the option at a folder."),
        _ => new StartupException($"{Option}: '{path}' cannot be used as the data folder ({reason.TrimEnd('.')}); point the option at a folder on a writable volume."),
    };

    private static StartupException NotWritable(string root, string path)
    {
        var (uid, gid) = OperatingSystem.IsWindows() ? (0u, 0u) : (GetEffectiveUserId(), GetEffectiveGroupId());
        return new StartupException(
            $"{Option}: '{path}' is not writable by the user the registry runs as (uid {uid}, gid {gid}); give the data folder to that user: " +
            $"chown -R {uid}:{gid} {root} (in a container: the host folder mounted there).");
    }

    private static StartupException Full(string root, long free) => new(
        $"{Option}: the volume of '{root}' is full ({(free < 0 ? "no room left" : $"{free} bytes free")}, the registry needs {MinFreeBytes} to start); free space on it or give the registry a bigger volume.");

    private static long FreeBytes(string root)
    {
        try
        {
            return new DriveInfo(root).AvailableFreeSpace;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int AccessNative(string path, int mode);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();

    [LibraryImport("libc", EntryPoint = "getegid")]
    private static partial uint GetEffectiveGroupId();
}
