using System.Globalization;
using ConnectedRegistry.Storage;
using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.Hierarchy;

/// <summary>
/// The hierarchy's own SQLite file in the data root (<c>hierarchy.db</c>, WAL):
/// <list type="bullet">
/// <item><c>child_activations</c> (parent side): which instance holds each child registry's identity, and when it was last seen;</item>
/// <item><c>changes</c> (parent side): the change log children follow (bounded by <see cref="ChangeLog"/>);</item>
/// <item><c>local_activation</c> (child side): this registry's own instance id and activation state, so both survive restarts.</item>
/// </list>
/// </summary>
public sealed class HierarchyStore
{
    public const string FileName = "hierarchy.db";
    private readonly string _connectionString;

    public HierarchyStore(DataLayout layout)
    {
        Directory.CreateDirectory(layout.Root);
        _connectionString = SqliteFile.ConnectionString(Path.Combine(layout.Root, FileName));
        using var connection = Open();
        SqliteFile.EnableWal(connection);
        Execute(connection, """
            CREATE TABLE IF NOT EXISTS child_activations(
              name TEXT PRIMARY KEY,
              state TEXT NOT NULL,
              instance_id TEXT NOT NULL,
              device_id TEXT,
              module_id TEXT,
              generation_id TEXT,
              mode TEXT,
              activated TEXT NOT NULL,
              last_seen TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS changes(
              seq INTEGER PRIMARY KEY AUTOINCREMENT,
              repository TEXT NOT NULL,
              tag TEXT,
              digest TEXT,
              operation TEXT NOT NULL,
              time TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS local_activation(
              id INTEGER PRIMARY KEY CHECK (id = 1),
              instance_id TEXT NOT NULL,
              state TEXT NOT NULL,
              via TEXT,
              parent TEXT,
              generation_id TEXT,
              reason TEXT,
              updated TEXT NOT NULL);
            """);
    }

    public SqliteConnection Open() => SqliteFile.Open(_connectionString);

    public static int Execute(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters) =>
        connection.Execute(sql, null, parameters);

    public static SqliteCommand Command(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters) =>
        connection.Command(sql, null, parameters);

    public static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("o", CultureInfo.InvariantCulture);

    public static DateTimeOffset ParseTime(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    public static string? NullableString(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
}
