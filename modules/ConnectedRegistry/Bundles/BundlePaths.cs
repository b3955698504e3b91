namespace ConnectedRegistry.Bundles;

/// <summary>
/// Where the direct methods may read a bundle and write a state file: inside the data volume only. A path is taken
/// relative to the data root (or absolute); after resolving <c>..</c> and every symbolic link on the way it must
/// still be below the data root, else the method answers 400 without touching anything.
/// </summary>
public static class BundlePaths
{
    /// <summary>The folder of the data root that <c>bundleState</c> writes into (and a natural place to drop bundles).</summary>
    public const string Folder = "bundles";

    /// <summary>The full path of <paramref name="path"/> inside <paramref name="dataRoot"/>, or null with the reason.</summary>
    public static string? Resolve(string dataRoot, string? path, out string reason)
    {
        reason = string.Empty;
        if (string.IsNullOrWhiteSpace(path) || path.Contains('\0', StringComparison.Ordinal))
        {
            reason = "a path inside the data volume is required";
            return null;
        }

        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dataRoot));
        var full = Path.GetFullPath(path, root);
        if (!IsBelow(root, full))
        {
            reason = $"'{path}' is outside the data volume";
            return null;
        }

        // every existing part of the path that is a link must lead inside the data volume too
        try
        {
            for (var current = full; current is not null && IsBelow(root, current); current = Path.GetDirectoryName(current))
            {
                FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
                if (info.Exists && info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target && !IsBelow(root, target.FullName))
                {
                    reason = $"'{path}' leads outside the data volume through a link";
                    return null;
                }
            }
        }
        catch (IOException)
        {
            // ELOOP: links that lead to each other (or too many in a row) resolve to nothing
            reason = $"'{path}' leads through a link that does not resolve (a loop)";
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            reason = $"'{path}' cannot be checked: a folder on the way is not readable";
            return null;
        }

        return full;
    }

    /// <summary>
    /// The full path of a file the module is to write at <paramref name="path"/> inside <paramref name="dataRoot"/>, or
    /// null with the reason: stricter than <see cref="Resolve"/>, neither the file nor any folder below the data root
    /// on its way may be a link, not even one that stays inside the volume (a link onto <c>registry.db</c> is inside).
    /// The file itself is then written with <see cref="NoFollowFile"/>.
    /// </summary>
    public static string? ResolveForWrite(string dataRoot, string path, out string reason)
    {
        if (Resolve(dataRoot, path, out reason) is not { } full)
        {
            return null;
        }

        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dataRoot));
        for (var current = full; current is not null && IsBelow(root, current); current = Path.GetDirectoryName(current))
        {
            if (NoFollowFile.IsLink(current))
            {
                reason = $"'{path}' is a link, or a folder on its way is: the module writes no file through a link";
                return null;
            }
        }

        return full;
    }

    private static bool IsBelow(string root, string path) =>
        path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
