using ConnectedRegistry.Core;
using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Writing to the local data folder failed (disk full, read-only, an I/O error): not the parent's fault and not
/// something a retry of the same request fixes. Ends the pass; the scheduler reports <c>Unhealthy</c> with the
/// status detail <see cref="StatusCode"/> until a pass completes again.
/// </summary>
public sealed class LocalStorageException(Exception inner)
    : Exception("writing to the data folder failed: " + inner.Message, inner)
{
    [StatusDetailCode]
    public const string StatusCode = "DiskError";

    /// <summary>
    /// Whether an exception thrown by a write to the local store is the disk's. Reading the parent's bytes inside
    /// such a write fails with <see cref="ParentReadException"/>, which is the network's.
    /// </summary>
    public static bool IsDiskError(Exception ex) => ex switch
    {
        ParentReadException => false,
        UnauthorizedAccessException => true,
        IOException => true,
        SqliteException sqlite => sqlite.SqliteErrorCode is SqliteReadOnly or SqliteIoError or SqliteFull or SqliteCantOpen,
        _ => false,
    };

    private const int SqliteReadOnly = 8;
    private const int SqliteIoError = 10;
    private const int SqliteFull = 13;
    private const int SqliteCantOpen = 14;
}

/// <summary>Reading a blob's bytes from the parent failed mid-transfer (the connection broke): resumable.</summary>
public sealed class ParentReadException(Exception inner) : IOException(inner.Message, inner);
