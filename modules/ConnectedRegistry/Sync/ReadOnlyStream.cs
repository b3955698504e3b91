namespace ConnectedRegistry.Sync;

/// <summary>
/// The base of sync's forward-only read streams (<see cref="ParentBlobStream"/>, <see cref="StreamSlice"/>): it can
/// only be read, and the array <c>ReadAsync</c> goes through the <see cref="Memory{T}"/> one the subclass writes.
/// </summary>
internal abstract class ReadOnlyStream : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
