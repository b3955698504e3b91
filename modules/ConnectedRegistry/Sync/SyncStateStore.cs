using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.Sync;

/// <summary>
/// What sync down itself set: for each (repository, tag) the digest last copied from the parent. A local tag
/// that differs from it was pushed by a client, so it is not removed when the parent drops the tag.
/// Lives in its own SQLite file next to the registry database (<c>sync.db</c> in the data root).
/// </summary>
public sealed class SyncStateStore
{
    public const string FileName = SyncDatabase.FileName;
    private readonly SyncDatabase _db;

    public SyncStateStore(DataLayout layout)
    {
        _db = new SyncDatabase(layout, """
            CREATE TABLE IF NOT EXISTS synced_tags(
              repository TEXT NOT NULL,
              tag TEXT NOT NULL,
              digest TEXT NOT NULL,
              PRIMARY KEY(repository, tag));
            """);
    }

    public IReadOnlyDictionary<string, Digest> SyncedTags(string repository)
    {
        using var connection = _db.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT tag, digest FROM synced_tags WHERE repository=$r";
        command.Parameters.AddWithValue("$r", repository);
        using var reader = command.ExecuteReader();
        var result = new Dictionary<string, Digest>(StringComparer.Ordinal);
        while (reader.Read())
        {
            if (Digest.TryParse(reader.GetString(1), out var digest))
            {
                result[reader.GetString(0)] = digest;
            }
        }

        return result;
    }

    public void SetSynced(string repository, string tag, Digest digest)
    {
        using var connection = _db.Open();
        SyncDatabase.Execute(connection, "INSERT INTO synced_tags(repository, tag, digest) VALUES ($r, $t, $d) ON CONFLICT(repository, tag) DO UPDATE SET digest=excluded.digest",
            ("$r", repository), ("$t", tag), ("$d", digest.ToString()));
    }

    public void Forget(string repository, string tag)
    {
        using var connection = _db.Open();
        SyncDatabase.Execute(connection, "DELETE FROM synced_tags WHERE repository=$r AND tag=$t", ("$r", repository), ("$t", tag));
    }
}
