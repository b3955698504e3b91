using ConnectedRegistry.Core;
using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.Storage;

/// <summary>
/// How every SQLite file of the data root is opened (the registry's metadata, <c>sync.db</c>, <c>hierarchy.db</c>):
/// created when missing, pooled, a private cache, 60 s before a busy database gives up, and WAL journaling so
/// readers never block the writer.
/// </summary>
internal static class SqliteFile
{
    /// <summary>The connection string for the file at <paramref name="path"/>; <paramref name="foreignKeys"/> turns foreign key enforcement on.</summary>
    public static string ConnectionString(string path, bool foreignKeys = false)
    {
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 60,
        };
        if (foreignKeys)
        {
            builder.ForeignKeys = true;
        }

        return builder.ToString();
    }

    /// <summary>
    /// What a write-ahead log keeps of its size once a checkpoint has copied it back (SQLite's
    /// <c>journal_size_limit</c>). Without it the log stays as large as its largest transaction ever made it: a
    /// retention pass over 100,000 tags wrote 376 MB through it, space a small disk then never got back.
    /// </summary>
    public const long WalSizeLimitBytes = 16L * 1024 * 1024;

    private static readonly string WalLimitPragma = $"PRAGMA journal_size_limit={WalSizeLimitBytes};";

    /// <summary>
    /// Opens a connection and runs the per-connection settings on it: the log's size limit
    /// (<see cref="WalSizeLimitBytes"/>), then <paramref name="pragmas"/> when given.
    /// </summary>
    public static SqliteConnection Open(string connectionString, string? pragmas = null)
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        connection.Execute(pragmas is null ? WalLimitPragma : WalLimitPragma + " " + pragmas);
        return connection;
    }

    /// <summary>
    /// Runs the first open of the file at <paramref name="path"/> (WAL, schema) at start-up. A file SQLite cannot use
    /// becomes a <see cref="StartupException"/> that names it and the fix, where it ended the start with a stack trace.
    /// </summary>
    public static void AtStartup(string path, Action open)
    {
        try
        {
            open();
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode is NotADatabase or Corrupt)
        {
            throw new StartupException($"{DataRootCheck.Option}: the database '{path}' is damaged ({Reason(ex)}); restore it from a backup, or move it (with its -wal and -shm files) away to start without what it held.", ex);
        }
        catch (SqliteException ex)
        {
            throw new StartupException($"{DataRootCheck.Option}: the database '{path}' cannot be opened ({Reason(ex)}); check the file and its volume.", ex);
        }

        static string Reason(SqliteException ex) => ex.Message.TrimEnd('.');
    }

    private const int Corrupt = 11; // SQLITE_CORRUPT
    private const int NotADatabase = 26; // SQLITE_NOTADB

    /// <summary>Turns WAL journaling on (it is stored in the file, so once at start is enough).</summary>
    public static void EnableWal(SqliteConnection connection) => connection.Execute("PRAGMA journal_mode=WAL;");
}
