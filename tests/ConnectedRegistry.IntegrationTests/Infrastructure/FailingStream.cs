namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// A body that yields the first <c>failAfter</c> bytes of <c>data</c> and then fails with an <see cref="IOException"/>,
/// as a client that goes away mid-upload or a connection that is reset.
/// </summary>
public sealed class FailingStream(byte[] data, int failAfter) : Stream
{
    private int _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => data.Length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        if (_position >= failAfter)
        {
            throw new IOException("the client went away");
        }

        var n = Math.Min(count, failAfter - _position);
        Array.Copy(data, _position, buffer, offset, n);
        _position += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
