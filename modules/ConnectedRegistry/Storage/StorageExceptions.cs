using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Storage;

/// <summary>
/// A refusal of storage, in storage's own terms: it names no HTTP status, header or path. Distribution, the HTTP edge,
/// translates each to its OCI error in one place (<c>Distribution/StorageErrors</c>); sync catches the ones it acts on
/// by their type.
/// </summary>
public abstract class StorageException(string message) : Exception(message);

/// <summary>Bytes did not hash to the digest they were announced with; they were not kept.</summary>
public sealed class DigestMismatchException(Digest expected, Digest actual, string message) : StorageException(message)
{
    public Digest Expected { get; } = expected;

    public Digest Actual { get; } = actual;
}

/// <summary>A chunk of an upload session does not start where the session's bytes end (at <see cref="Length"/>).</summary>
public sealed class UploadRangeException(UploadSession session, long length, string message) : StorageException(message)
{
    public UploadSession Session { get; } = session;

    /// <summary>How many bytes the session holds.</summary>
    public long Length { get; } = length;
}

/// <summary>One more upload session would pass a cap (the repository's, the client's or the registry's); worth trying again after <see cref="RetryAfter"/>.</summary>
public sealed class UploadSessionLimitException(string message) : StorageException(message)
{
    public TimeSpan RetryAfter { get; } = TimeSpan.FromSeconds(60);
}
