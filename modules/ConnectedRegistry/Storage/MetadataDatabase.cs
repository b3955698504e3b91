using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.Storage;

/// <summary>
/// The one SQLite database of the data root (its SQL is all in <see cref="MetadataSql"/>) (WAL mode, foreign keys on). Writers are serialised in
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
        SqliteFile.AtStartup(layout.Database, Initialize);
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
        command.CommandText = MetadataSql.Schema;
        command.ExecuteNonQuery();
        MetadataSql.Upgrade(connection, transaction);
        command.CommandText = MetadataSql.SchemaVersion;
        var version = command.ExecuteScalar();
        if (version is null)
        {
            command.CommandText = MetadataSql.InsertSchemaVersion(SchemaVersion);
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
