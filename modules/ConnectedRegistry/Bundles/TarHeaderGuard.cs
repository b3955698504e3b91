namespace ConnectedRegistry.Bundles;

/// <summary>
/// The bundle file as the tar reader sees it, bounding what one entry's header may take. While the reader parses a
/// header (between <see cref="BeginHeader"/> and <see cref="EndHeader"/>) it reads the 512-byte block, then a pax
/// extended header or a GNU long name whole, in one read into a buffer of the size the block declares: a hostile
/// tar declares up to 2 GiB there, and the reader would fill that much memory before it found anything wrong.
/// Here a read that would take the header past <see cref="BundleFormat.MaxTarHeaderBytes"/> is refused before a
/// byte of it is read. The entries' data, read after their header, pass unbounded (their sizes are checked against
/// the signed descriptor). Seeks pass through: the reader skips unread data by seeking.
/// </summary>
internal sealed class TarHeaderGuard(Stream inner) : Stream
{
    private long _headerBytes = -1; // -1: not inside a header

    public override bool CanRead => true;

    public override bool CanSeek => inner.CanSeek;

    public override bool CanWrite => false;

    public override long Length => inner.Length;

    public override long Position { get => inner.Position; set => inner.Position = value; }

    /// <summary>The reader starts on the next entry's header.</summary>
    public void BeginHeader() => _headerBytes = 0;

    /// <summary>The reader is done with the header; what is read now is the entry's data.</summary>
    public void EndHeader() => _headerBytes = -1;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        Allow(buffer.Length);
        return Taken(inner.Read(buffer));
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Allow(buffer.Length);
        return Taken(await inner.ReadAsync(buffer, cancellationToken));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private void Allow(int count)
    {
        if (_headerBytes >= 0 && _headerBytes + count > BundleFormat.MaxTarHeaderBytes)
        {
            throw new BundleRefusedException(
                $"a tar header record (pax extended header or GNU long name) of {count} bytes; a bundle's tar headers hold at most {BundleFormat.MaxTarHeaderBytes} bytes each");
        }
    }

    private int Taken(int n)
    {
        if (_headerBytes >= 0)
        {
            _headerBytes += n;
        }

        return n;
    }

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
