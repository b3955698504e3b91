using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Counts bytes as they are read, and refuses more than the descriptor's size. A failed read of the parent's
/// stream becomes <see cref="ParentReadException"/>, so that the store's write errors stay told apart from it.
/// </summary>
internal sealed class ParentBlobStream(Stream inner, long limit, Action<int> onRead) : ReadOnlyStream
{
    private long _read;

    public override long Position { get => _read; set => throw new NotSupportedException(); }

    /// <summary>The bytes still to come (what the descriptor promises), for the free-space guard to reserve.</summary>
    public long Remaining => limit - _read;

    public override int Read(byte[] buffer, int offset, int count)
    {
        try
        {
            return Counted(inner.Read(buffer, offset, count));
        }
        catch (Exception ex) when (IsReadFailure(ex))
        {
            throw new ParentReadException(ex);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            return Counted(await inner.ReadAsync(buffer, cancellationToken));
        }
        catch (Exception ex) when (IsReadFailure(ex))
        {
            throw new ParentReadException(ex);
        }
    }

    private static bool IsReadFailure(Exception ex) => ex is IOException or HttpRequestException && ex is not ParentReadException;

    private int Counted(int n)
    {
        _read += n;
        if (_read > limit)
        {
            throw new ParentContentException("blob from the parent is larger than its descriptor says");
        }

        if (n > 0)
        {
            onRead(n);
        }

        return n;
    }
}
