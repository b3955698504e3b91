namespace ConnectedRegistry.Bundles;

/// <summary>
/// How the bundle code writes a file without ever writing through a symbolic link someone planted: the content goes
/// into a new file of a random name in the target's folder, created exclusively (<c>O_CREAT|O_EXCL</c>, which fails
/// on any existing name, a link too, and so never follows one), flushed to disk, then renamed over the target
/// (a rename replaces the name itself; it never writes through a link there). A target that is a link is refused
/// rather than replaced. The old scheme, a fixed <c>NAME.tmp</c> opened with create-or-truncate, wrote wherever a
/// link of that name pointed.
/// </summary>
internal static class NoFollowFile
{
    /// <summary>True when <paramref name="path"/> is a symbolic link (a dangling one too); its target is never looked at.</summary>
    public static bool IsLink(string path) => new FileInfo(path).LinkTarget is not null;

    /// <summary>Throws the refusal when <paramref name="path"/> is a symbolic link.</summary>
    public static void RefuseLink(string path)
    {
        if (IsLink(path))
        {
            throw new BundleRefusedException($"{path} is a link; bundle files are never written through a link");
        }
    }

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> whole or not at all, never through a link (above).</summary>
    public static async Task WriteAsync(string path, byte[] content, CancellationToken cancellationToken)
    {
        RefuseLink(path);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
        try
        {
            await using (file)
            {
                await file.WriteAsync(content, cancellationToken);
                file.Flush(flushToDisk: true); // on disk before the rename: a power cut never leaves an empty file in place
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary); // the file this call created (unlink removes the name, it follows nothing)
            throw;
        }
    }
}
