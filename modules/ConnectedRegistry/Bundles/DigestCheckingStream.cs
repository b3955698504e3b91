using System.Security.Cryptography;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Bundles;

/// <summary>
/// Reads through <paramref name="inner"/> while hashing, and at its end checks the size and the digest: a mismatch
/// (or more bytes than the size) throws <see cref="BundleRefusedException"/> before the last read returns, so a
/// consumer never takes the whole of a wrong blob for a right one.
/// </summary>
internal sealed class DigestCheckingStream(Stream inner, Digest digest, long size, string what, Action<int>? onRead = null) : ReadOnlyStream
{
    private readonly IncrementalHash _hash = digest.CreateHasher();
    private long _read;
    private bool _checked;

    public override long Length => size;

    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n;
        try
        {
            n = inner.Read(buffer);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException)
        {
            throw Unreadable(ex);
        }

        return Counted(buffer[..n]);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n;
        try
        {
            n = await inner.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException)
        {
            throw Unreadable(ex);
        }

        return Counted(buffer.Span[..n]);
    }

    /// <summary>A failed read of the source (a torn file, a dropped connection) is the source's fault, never the destination disk's.</summary>
    private BundleRefusedException Unreadable(Exception ex) => new($"{what} {digest} is torn: it could not be read after {_read} of its {size} bytes ({ex.Message})", ex);

    private int Counted(ReadOnlySpan<byte> bytes)
    {
        _read += bytes.Length;
        if (_read > size)
        {
            throw new BundleRefusedException($"{what} {digest} is longer than its {size} bytes");
        }

        _hash.AppendData(bytes);
        onRead?.Invoke(bytes.Length);
        if (bytes.Length == 0 || _read == size)
        {
            Check();
        }

        return bytes.Length;
    }

    private void Check()
    {
        if (_checked)
        {
            return;
        }

        _checked = true;
        if (_read != size)
        {
            throw new BundleRefusedException($"{what} {digest} is torn: it ends after {_read} of its {size} bytes");
        }

        var actual = Digest.FromHash(digest.Algorithm, _hash.GetCurrentHash());
        if (actual != digest)
        {
            throw new BundleRefusedException($"{what} {digest} does not match its digest (its bytes hash to {actual})");
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
        }

        base.Dispose(disposing);
    }
}
