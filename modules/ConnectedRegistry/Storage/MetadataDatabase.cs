using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.Storage;

/// <summary>
/// The one SQLite database of the data root (WAL mode, foreign keys on). Writers are serialised in
/// process so that no write transaction ever waits on another one inside SQLite; readers never block.
/// Tags and manifest references point at manifests with foreign keys (ON DELETE CASCADE), so the
/// database itself forbids a tag that points at a manifest it does not hold.
/// </summary>
public sealed class MetadataDatabase : IDisposable
{
    private const int SchemaVersion = 1;

    private readonly string _connectionString;
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    public MetadataDatabase(DataLayout layout)
    {
        _connectionString = SqliteFile.ConnectionString(layout.Database, foreignKeys: true);
        Initialize();
    }

    /// <summary>Closes the pooled connections of this database (the host disposes the singleton at shutdown).</summary>
    public void Dispose()
    {
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    public SqliteConnection Open() => SqliteFile.Open(_connectionString, "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=60000;");

    /// <summary>Runs <paramref name="work"/> in one write transaction, serialised with every other writer.</summary>
    public async Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            using var connection = Open();
            using var transaction = connection.BeginTransaction();
            var result = work(connection, transaction);
            transaction.Commit();
            return result;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public Task WriteAsync(Action<SqliteConnection, SqliteTransaction> work, CancellationToken cancellationToken = default) =>
        WriteAsync<bool>((c, t) =>
        {
            work(c, t);
            return true;
        }, cancellationToken);

    public T Read<T>(Func<SqliteConnection, T> work)
    {
        using var connection = Open();
        return work(connection);
    }

    private void Initialize()
    {
        using var connection = Open();
        SqliteFile.EnableWal(connection);

        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            CREATE TABLE IF NOT EXISTS schema_info(version INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS repositories(
                name TEXT PRIMARY KEY,
                created INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS manifests(
                repository TEXT NOT NULL REFERENCES repositories(name),
                digest TEXT NOT NULL,
                media_type TEXT NOT NULL,
                size INTEGER NOT NULL,
                content BLOB NOT NULL,
                artifact_type TEXT,
                subject TEXT,
                annotations TEXT,
                created INTEGER NOT NULL,
                PRIMARY KEY(repository, digest));
            CREATE INDEX IF NOT EXISTS manifests_subject ON manifests(repository, subject) WHERE subject IS NOT NULL;
            CREATE TABLE IF NOT EXISTS manifest_refs(
                repository TEXT NOT NULL,
                digest TEXT NOT NULL,
                target TEXT NOT NULL,
                kind INTEGER NOT NULL,
                PRIMARY KEY(repository, digest, target, kind),
                FOREIGN KEY(repository, digest) REFERENCES manifests(repository, digest) ON DELETE CASCADE);
            CREATE INDEX IF NOT EXISTS manifest_refs_target ON manifest_refs(target, kind, repository);
            CREATE TABLE IF NOT EXISTS tags(
                repository TEXT NOT NULL,
                tag TEXT NOT NULL,
                digest TEXT NOT NULL,
                updated INTEGER NOT NULL,
                PRIMARY KEY(repository, tag),
                FOREIGN KEY(repository, digest) REFERENCES manifests(repository, digest) ON DELETE CASCADE);
            CREATE INDEX IF NOT EXISTS tags_digest ON tags(repository, digest);
            CREATE TABLE IF NOT EXISTS blob_links(
                repository TEXT NOT NULL REFERENCES repositories(name),
                digest TEXT NOT NULL,
                created INTEGER NOT NULL,
                PRIMARY KEY(repository, digest));
            CREATE INDEX IF NOT EXISTS blob_links_digest ON blob_links(digest);
            CREATE TABLE IF NOT EXISTS uploads(
                id TEXT PRIMARY KEY,
                repository TEXT NOT NULL,
                created INTEGER NOT NULL,
                updated INTEGER NOT NULL);
            """;
        command.ExecuteNonQuery();
        command.CommandText = "SELECT version FROM schema_info LIMIT 1";
        var version = command.ExecuteScalar();
        if (version is null)
        {
            command.CommandText = $"INSERT INTO schema_info(version) VALUES ({SchemaVersion})";
            command.ExecuteNonQuery();
        }
        else if (Convert.ToInt32(version, System.Globalization.CultureInfo.InvariantCulture) > SchemaVersion)
        {
            throw new InvalidOperationException("the registry database was written by a newer version of this module");
        }

        transaction.Commit();
    }
}

internal static class SqliteExtensions
{
    public static SqliteCommand Command(this SqliteConnection connection, string sql, SqliteTransaction? transaction = null, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    public static int Execute(this SqliteConnection connection, string sql, SqliteTransaction? transaction = null, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.Command(sql, transaction, parameters);
        return command.ExecuteNonQuery();
    }

    public static object? Scalar(this SqliteConnection connection, string sql, SqliteTransaction? transaction = null, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.Command(sql, transaction, parameters);
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }
}
