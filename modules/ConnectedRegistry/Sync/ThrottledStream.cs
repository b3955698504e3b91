namespace ConnectedRegistry.Sync;

/// <summary>
/// A connection to the parent whose reads and writes pass the shared <see cref="LinkThrottle"/>, in chunks of at
/// most <see cref="LinkThrottle.ChunkBytes"/>: nothing is buffered, the bytes wait for their turn. Sits below TLS
/// and HTTP (the parent transport's connect callback), so headers, bodies both ways and TLS records all count.
/// </summary>
public sealed class ThrottledStream(Stream inner, LinkThrottle throttle) : Stream
{
    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // Uncapped, a read takes what the socket has (up to the caller's buffer): 16 KiB reads would cost a blob
        // download four times the system calls, hashing calls and reader wake-ups at every level of a chain.
        var most = throttle.LimitBitsPerSecond is null ? buffer.Length : Math.Min(buffer.Length, LinkThrottle.ChunkBytes);
        var read = await inner.ReadAsync(buffer[..most], cancellationToken);
        if (read > 0)
        {
            throttle.Carried(sent: false, read);
            await throttle.AcquireAsync((long)read, cancellationToken);
        }

        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (buffer.Length > 0)
        {
            var chunk = buffer[..Math.Min(buffer.Length, LinkThrottle.ChunkBytes)];
            await throttle.AcquireAsync(chunk.Length, cancellationToken);
            await inner.WriteAsync(chunk, cancellationToken);
            throttle.Carried(sent: true, chunk.Length);
            buffer = buffer[chunk.Length..];
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override void Flush() => inner.Flush();

    // The HTTP stack uses the asynchronous members; the synchronous ones wait on them so they are throttled too.
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

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
