using ConnectedRegistry.Storage;
using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.Sync;

/// <summary>
/// <c>sync.db</c> in the data root (SQLite, WAL): the sync engine's own database, next to the registry's. Its
/// tables belong to <see cref="SyncStateStore"/> (<c>synced_tags</c>) and <see cref="SyncOutbox"/> (<c>outbox</c>),
/// their SQL to <see cref="SyncSql"/>; this is the one place that says where the file is and how it is opened.
/// </summary>
internal sealed class SyncDatabase
{
    public const string FileName = "sync.db";
    private readonly string _connectionString;

    /// <summary>Opens (creating when missing) the file and runs <paramref name="schema"/> (idempotent DDL) after turning WAL on.</summary>
    public SyncDatabase(DataLayout layout, string schema)
    {
        var path = Path.Combine(layout.Root, FileName);
        _connectionString = SqliteFile.ConnectionString(path);
        SqliteFile.AtStartup(path, () =>
        {
            using var connection = Open();
            SqliteFile.EnableWal(connection);
            connection.Execute(schema);
        });
    }

    public SqliteConnection Open() => SqliteFile.Open(_connectionString);
}
