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
/// Its SQL is all in <see cref="HierarchySql"/>.
/// </summary>
public sealed class HierarchyStore
{
    public const string FileName = "hierarchy.db";
    private readonly string _connectionString;

    public HierarchyStore(DataLayout layout)
    {
        Directory.CreateDirectory(layout.Root);
        var path = Path.Combine(layout.Root, FileName);
        _connectionString = SqliteFile.ConnectionString(path);
        SqliteFile.AtStartup(path, () =>
        {
            using var connection = Open();
            SqliteFile.EnableWal(connection);
            HierarchySql.CreateSchema(connection);
        });
    }

    public SqliteConnection Open() => SqliteFile.Open(_connectionString);
}
