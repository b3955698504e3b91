using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// At most <c>length</c> bytes of a stream from where it stands (one chunk of a blob being uploaded); disposing the
/// slice leaves the inner stream open, so the next chunk continues from it.
/// </summary>
internal sealed class StreamSlice(Stream inner, long length) : ReadOnlyStream
{
    private readonly long _length = length;
    private long _left = length;

    public override long Length => _length;

    public override long Position { get => _length - _left; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Take(inner.Read(buffer, offset, Limit(count)));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Take(await inner.ReadAsync(buffer[..Limit(buffer.Length)], cancellationToken));

    private int Limit(int count) => (int)Math.Min(count, _left);

    private int Take(int read)
    {
        _left -= read;
        return read;
    }
}
