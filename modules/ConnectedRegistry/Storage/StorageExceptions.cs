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

/// <summary>A repository name that is not one (<see cref="RepositoryName.IsValid"/>): nothing is read or written under it.</summary>
public sealed class InvalidRepositoryNameException() : StorageException("invalid repository name");

/// <summary>A manifest storage refuses to keep: a tag that is not one, or bytes that are not a manifest (the parser's reason).</summary>
public sealed class InvalidManifestException(string message) : StorageException(message);

/// <summary>A manifest larger than <see cref="MaxBytes"/>; nothing was kept.</summary>
public sealed class ManifestTooLargeException(long maxBytes) : StorageException($"manifest exceeds {maxBytes} bytes")
{
    public long MaxBytes { get; } = maxBytes;
}

/// <summary>A tag was to point at a manifest the repository does not hold.</summary>
public sealed class ManifestNotHeldException() : StorageException("the repository does not hold that manifest");

/// <summary>A manifest references blobs or child manifests the repository cannot serve (<see cref="Missing"/>); it was not kept.</summary>
public sealed class ManifestReferencesMissingException(IReadOnlyList<string> missing) : StorageException("manifest references content unknown to the registry")
{
    /// <summary>The digests of what is missing, each once.</summary>
    public IReadOnlyList<string> Missing { get; } = missing;
}

/// <summary>An upload session that is not there (never opened, completed, cancelled or purged).</summary>
public sealed class UploadSessionUnknownException() : StorageException("blob upload unknown to registry");

/// <summary>A chunk brought another number of bytes than it declared; none of it was kept.</summary>
public sealed class UploadSizeMismatchException(long declared, long received) : StorageException($"declared {declared} bytes but received {received}")
{
    public long Declared { get; } = declared;

    public long Received { get; } = received;
}

/// <summary>No partial blob to commit, and the repository has no blob of that digest either.</summary>
public sealed class PartialBlobMissingException() : StorageException("no partial blob to commit");
