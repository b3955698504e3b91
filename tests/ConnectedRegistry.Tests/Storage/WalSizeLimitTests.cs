using ConnectedRegistry.Storage;
using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.Tests.Storage;

/// <summary>
/// The write-ahead log of <c>registry.db</c> gives its space back after a large transaction (a retention pass, a big
/// sync), on a real SQLite file: once checkpointed it is cut to <see cref="SqliteFile.WalSizeLimitBytes"/>. The same
/// writes through a connection without the limit leave the log at its largest, which is what the check could otherwise miss.
/// </summary>
public sealed class WalSizeLimitTests
{
    private const int Rows = 60_000; // about 30 MB of pages through the log in one transaction
    private static readonly string Filler = new('x', 400);

    [Fact]
    public async Task The_registry_database_log_shrinks_back_to_the_limit_after_a_large_transaction()
    {
        var root = Directory.CreateTempSubdirectory("wal-limit-").FullName;
        try
        {
            var layout = new DataLayout(root);
            layout.EnsureCreated();
            using (var db = new MetadataDatabase(layout))
            using (db.Open()) // held open: the last connection to close removes the log (another test may clear the pools)
            {
                await db.WriteAsync((c, t) => Fill(c, t, "big"));
                var largest = new FileInfo(layout.Database + "-wal").Length;
                Assert.True(largest > 2 * SqliteFile.WalSizeLimitBytes, $"the large transaction's log: {largest} bytes");

                // The log is cut when a writer restarts it after a checkpoint that copied all of it back.
                for (var i = 0; i < 3; i++)
                {
                    using (var reader = db.Open())
                    {
                        reader.Execute("PRAGMA wal_checkpoint(PASSIVE);");
                    }

                    await db.WriteAsync((c, t) => c.Execute($"INSERT INTO repositories(name, created) VALUES ('small/{i}', 0)", t));
                }

                var after = new FileInfo(layout.Database + "-wal").Length;
                Assert.True(after <= SqliteFile.WalSizeLimitBytes, $"the log after checkpoints: {after} bytes (largest {largest})");
            }

            // The same writes without the limit: the log keeps its largest size.
            var control = Path.Combine(root, "control.db");
            var controlConnection = SqliteFile.ConnectionString(control);
            using (var c = new SqliteConnection(controlConnection))
            {
                c.Open();
                SqliteFile.EnableWal(c);
                c.Execute("CREATE TABLE repositories(name TEXT PRIMARY KEY, created INTEGER NOT NULL)");
                using (var t = c.BeginTransaction())
                {
                    Fill(c, t, "big");
                    t.Commit();
                }

                for (var i = 0; i < 3; i++)
                {
                    c.Execute("PRAGMA wal_checkpoint(PASSIVE);");
                    c.Execute($"INSERT INTO repositories(name, created) VALUES ('small/{i}', 0)");
                }

                Assert.True(new FileInfo(control + "-wal").Length > 2 * SqliteFile.WalSizeLimitBytes);
            }

            using var pooled = new SqliteConnection(controlConnection);
            SqliteConnection.ClearPool(pooled);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static int Fill(SqliteConnection c, SqliteTransaction t, string prefix)
    {
        using var insert = c.CreateCommand();
        insert.Transaction = t;
        insert.CommandText = "INSERT INTO repositories(name, created) VALUES ($n, 0)";
        var name = insert.Parameters.Add("$n", SqliteType.Text);
        for (var i = 0; i < Rows; i++)
        {
            name.Value = $"{prefix}/{i:D6}/{Filler}";
            insert.ExecuteNonQuery();
        }

        return Rows;
    }
}
