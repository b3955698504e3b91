using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>A statement run straight against one of the module's SQLite files (the module stopped, or to age or break a row on purpose).</summary>
public static class TestDatabase
{
    public static void Execute(string database, string sql)
    {
        using var connection = Open(database);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public static long Scalar(string database, string sql)
    {
        using var connection = Open(database);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    private static SqliteConnection Open(string database)
    {
        var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        connection.Open();
        return connection;
    }
}
