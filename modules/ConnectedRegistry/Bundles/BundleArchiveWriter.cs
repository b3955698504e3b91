using System.Formats.Tar;
using System.Globalization;
using System.Text;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Bundles;

/// <summary>
/// Writes a bundle's tar resumably: into <c>FILE.partial</c>, with a side journal (<c>FILE.partial.journal</c>) of
/// the entries that are whole and on disk (each line: the file's length after the entry, then its name, appended
/// only after the entry was flushed to disk). A new run on the same output truncates the partial file to the last
/// journaled entry and goes on from there; the finished archive is renamed to FILE and the journal removed. None of
/// the three names may be a link (refused): nothing is written through one.
/// </summary>
public sealed class BundleArchiveWriter : IDisposable
{
    private readonly string _output;
    private readonly HashSet<string> _done = new(StringComparer.Ordinal);
    private FileStream? _file;
    private StreamWriter? _journal;

    public BundleArchiveWriter(string output)
    {
        _output = Path.GetFullPath(output);
    }

    public string PartialPath => _output + ".partial";

    public string JournalPath => PartialPath + ".journal";

    /// <summary>Entries already whole in the partial file.</summary>
    public IReadOnlySet<string> Done => _done;

    /// <summary>Bytes in the archive so far.</summary>
    public long Length => _file?.Length ?? 0;

    /// <summary>
    /// Opens the partial archive of an earlier run and returns the descriptor and signature it already holds, or null
    /// (no earlier run, or one that stopped before its header was whole: it starts over).
    /// </summary>
    public (byte[] Descriptor, byte[] Signature)? Resume()
    {
        // a link at any of the three names would have the export write (or truncate) wherever it points
        NoFollowFile.RefuseLink(_output);
        NoFollowFile.RefuseLink(PartialPath);
        NoFollowFile.RefuseLink(JournalPath);
        if (File.Exists(_output))
        {
            throw new BundleRefusedException($"{_output} exists already; remove it or choose another --output");
        }

        var journaled = ReadJournal();
        if (!BundleFormat.HeaderEntries.All(h => journaled.Any(j => j.Name == h))
            || ReadHeader(journaled[^1].Offset) is not { } header)
        {
            Open(fresh: true);
            return null;
        }

        var end = journaled[^1].Offset;
        Open(fresh: false);
        _file!.SetLength(end);
        _file.Position = end;
        foreach (var (_, name) in journaled)
        {
            _done.Add(name);
        }

        return header;
    }

    /// <summary>The journal's entries (the file's length after each, its name); none without both files.</summary>
    private List<(long Offset, string Name)> ReadJournal()
    {
        var lines = File.Exists(JournalPath) && File.Exists(PartialPath) ? File.ReadAllLines(JournalPath) : [];
        var journaled = new List<(long Offset, string Name)>();
        foreach (var line in lines)
        {
            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            if (tab > 0 && long.TryParse(line[..tab], NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
            {
                journaled.Add((offset, line[(tab + 1)..]));
            }
        }

        return journaled;
    }

    /// <summary>The descriptor and signature of the partial file's first <paramref name="end"/> bytes, or null when they are not whole there.</summary>
    private (byte[] Descriptor, byte[] Signature)? ReadHeader(long end)
    {
        byte[]? descriptor = null;
        byte[]? signature = null;
        using var read = new FileStream(PartialPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (read.Length < end)
        {
            return null;
        }

        using var reader = new TarReader(read, leaveOpen: true);
        while (read.Position < end && reader.GetNextEntry() is { } entry && (descriptor is null || signature is null))
        {
            if (entry.Name == BundleFormat.DescriptorFile)
            {
                descriptor = ReadAll(entry);
            }
            else if (entry.Name == BundleFormat.SignatureFile)
            {
                signature = ReadAll(entry);
            }
        }

        return descriptor is null || signature is null ? null : (descriptor, signature);
    }

    /// <summary>
    /// Writes one entry of <paramref name="length"/> bytes from <paramref name="content"/> (a stream that cannot seek,
    /// such as a download, read to its end), flushes it to disk and journals it. With the length known up front the
    /// tar writer copies asynchronously and writes the header once; given a stream it cannot seek it would copy
    /// synchronously and go back to patch the header.
    /// </summary>
    public Task WriteAsync(string name, Stream content, long length, CancellationToken cancellationToken) =>
        WriteAsync(name, new KnownLengthStream(content, length), cancellationToken);

    /// <summary>Writes one entry from <paramref name="content"/> (read to its end), flushes it to disk and journals it.</summary>
    public async Task WriteAsync(string name, Stream content, CancellationToken cancellationToken)
    {
        var file = _file ?? throw new InvalidOperationException("Resume first");
        var start = file.Position;
        long end;
        try
        {
            await using (var writer = new TarWriter(file, TarEntryFormat.Pax, leaveOpen: true))
            {
                var entry = new PaxTarEntry(TarEntryType.RegularFile, name)
                {
                    DataStream = content,
                    ModificationTime = DateTimeOffset.UnixEpoch,
                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                };
                await writer.WriteEntryAsync(entry, cancellationToken);
                end = file.Position;
            }

            // the writer ends the archive when disposed; that comes once, at Complete
            file.SetLength(end);
            file.Position = end;
        }
        catch
        {
            // what this entry wrote is not journaled: the next run truncates it away
            TryTruncate(start);
            throw;
        }

        await file.FlushAsync(cancellationToken);
        file.Flush(flushToDisk: true);
        await _journal!.WriteLineAsync($"{file.Position.ToString(CultureInfo.InvariantCulture)}\t{name}");
        await _journal.FlushAsync(cancellationToken);
        _done.Add(name);
    }

    public Task WriteAsync(string name, byte[] content, CancellationToken cancellationToken) =>
        WriteAsync(name, new MemoryStream(content, writable: false), cancellationToken);

    /// <summary>Ends the archive (two zero blocks), makes it durable and renames it into place; the journal goes.</summary>
    public void Complete()
    {
        var file = _file ?? throw new InvalidOperationException("Resume first");
        file.Write(new byte[1024]);
        file.Flush(flushToDisk: true);
        Close();
        File.Move(PartialPath, _output);
        File.Delete(JournalPath);
    }

    private void Open(bool fresh)
    {
        if (fresh)
        {
            File.Delete(PartialPath);
            File.Delete(JournalPath);
        }

        var directory = Path.GetDirectoryName(_output);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        // A fresh start creates both files exclusively (never through a link planted since the check in Resume);
        // a resumed one opens the two files Resume found to be files.
        _file = new FileStream(PartialPath, fresh ? FileMode.CreateNew : FileMode.Open, FileAccess.ReadWrite, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        _journal = new StreamWriter(new FileStream(JournalPath, fresh ? FileMode.CreateNew : FileMode.Append, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
    }

    private void TryTruncate(long length)
    {
        try
        {
            _file!.SetLength(length);
            _file.Position = length;
        }
        catch (IOException)
        {
            // a full disk may refuse even this; the journal is what counts
        }
    }

    private static byte[] ReadAll(TarEntry entry)
    {
        if (entry.DataStream is null || entry.Length > BundleFormat.MaxHeaderBytes)
        {
            throw new BundleRefusedException($"{entry.Name} in the partial bundle is empty or too large");
        }

        using var memory = new MemoryStream();
        entry.DataStream.CopyTo(memory);
        return memory.ToArray();
    }

    private void Close()
    {
        _journal?.Dispose();
        _journal = null;
        _file?.Dispose();
        _file = null;
    }

    public void Dispose() => Close();
}

/// <summary>
/// A stream read once from its start whose length is known: it says it can seek so that a tar writer takes its
/// length from it and copies it asynchronously, but it only reports where it is (any real seek throws).
/// </summary>
internal sealed class KnownLengthStream(Stream inner, long length) : ReadOnlyStream
{
    private long _position;

    public override bool CanSeek => true;

    public override long Length => length;

    public override long Position
    {
        get => _position;
        set
        {
            if (value != _position)
            {
                throw new NotSupportedException("a download cannot seek");
            }
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        _position += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken);
        _position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin) =>
        (origin == SeekOrigin.Current && offset == 0) || (origin == SeekOrigin.Begin && offset == _position)
            ? _position
            : throw new NotSupportedException("a download cannot seek");

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();
}
