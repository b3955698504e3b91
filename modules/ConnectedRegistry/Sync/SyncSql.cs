using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Microsoft.Data.Sqlite;
using Newtonsoft.Json;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Every SQL statement of <c>sync.db</c> (<see cref="SyncDatabase"/>): the schema and queries of
/// <c>synced_tags</c> (<see cref="SyncStateStore"/>), <c>outbox</c> (<see cref="SyncOutbox"/>), <c>upload_sessions</c>
/// (<see cref="ParentUploadSessions"/>) and <c>on_demand</c> (<see cref="OnDemandContent"/>). No other
/// class writes SQL for this database.
/// </summary>
internal static class SyncSql
{
    public const string SyncedTagsSchema = """
        CREATE TABLE IF NOT EXISTS synced_tags(
          repository TEXT NOT NULL,
          tag TEXT NOT NULL,
          digest TEXT NOT NULL,
          PRIMARY KEY(repository, tag));
        CREATE TABLE IF NOT EXISTS retired_tags(
          repository TEXT NOT NULL,
          tag TEXT NOT NULL,
          digest TEXT NOT NULL,
          PRIMARY KEY(repository, tag));
        """;

    public const string OutboxSchema = """
        CREATE TABLE IF NOT EXISTS outbox(
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          kind TEXT NOT NULL,
          repository TEXT NOT NULL,
          digest TEXT,
          media_type TEXT,
          tag TEXT,
          created INTEGER NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          last_error TEXT);
        """;

    public const string UploadSessionsSchema = """
        CREATE TABLE IF NOT EXISTS upload_sessions(
          parent TEXT NOT NULL,
          repository TEXT NOT NULL,
          digest TEXT NOT NULL,
          location TEXT NOT NULL,
          offset INTEGER NOT NULL,
          chunk_min INTEGER NOT NULL,
          updated INTEGER NOT NULL,
          PRIMARY KEY(parent, repository, digest));
        """;

    public const string OnDemandSchema = """
        CREATE TABLE IF NOT EXISTS on_demand(
          repository TEXT NOT NULL,
          digest TEXT NOT NULL,
          fetched INTEGER NOT NULL,
          PRIMARY KEY(repository, digest));
        """;

    // ---- on_demand ---------------------------------------------------------------------------

    /// <summary>Every manifest stored by on-demand fetch and not kept by sync since, with when it was fetched (Unix ms).</summary>
    public static List<(string Repository, Digest Digest, long Fetched)> OnDemand(SqliteConnection c)
    {
        using var command = c.Command("SELECT repository, digest, fetched FROM on_demand");
        using var reader = command.ExecuteReader();
        var list = new List<(string, Digest, long)>();
        while (reader.Read())
        {
            if (Digest.TryParse(reader.GetString(1), out var digest))
            {
                list.Add((reader.GetString(0), digest, reader.GetInt64(2)));
            }
        }

        return list;
    }

    public static void MarkOnDemand(SqliteConnection c, string repository, Digest digest, long fetched) =>
        c.Execute("INSERT INTO on_demand(repository, digest, fetched) VALUES ($r, $d, $f) ON CONFLICT(repository, digest) DO UPDATE SET fetched=excluded.fetched",
            null, ("$r", repository), ("$d", digest.ToString()), ("$f", fetched));

    public static void ForgetOnDemand(SqliteConnection c, string repository, Digest digest) =>
        ForgetOnDemand(c, null, [(repository, digest)]);

    /// <summary>Drops the marks of <paramref name="manifests"/>, one prepared statement in the caller's transaction.</summary>
    public static void ForgetOnDemand(SqliteConnection c, SqliteTransaction? t, IEnumerable<(string Repository, Digest Digest)> manifests)
    {
        using var command = c.Command("DELETE FROM on_demand WHERE repository=$r AND digest=$d", t, ("$r", ""), ("$d", ""));
        foreach (var (repository, digest) in manifests)
        {
            command.Parameters["$r"].Value = repository;
            command.Parameters["$d"].Value = digest.ToString();
            command.ExecuteNonQuery();
        }
    }

    // ---- synced_tags -------------------------------------------------------------------------

    public static Dictionary<string, Digest> SyncedTags(SqliteConnection c, string repository) =>
        TagDigests(c, "SELECT tag, digest FROM synced_tags WHERE repository=$r", repository);

    /// <summary>Tag → digest rows of one repository (a row whose digest does not parse is skipped).</summary>
    private static Dictionary<string, Digest> TagDigests(SqliteConnection c, string query, string repository)
    {
        using var command = c.Command(query, null, ("$r", repository));
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

    /// <summary>Records the tag as set by sync; a retention mark on it goes (the tag is here again).</summary>
    public static void SetSynced(SqliteConnection c, string repository, string tag, Digest digest)
    {
        c.Execute("INSERT INTO synced_tags(repository, tag, digest) VALUES ($r, $t, $d) ON CONFLICT(repository, tag) DO UPDATE SET digest=excluded.digest",
            null, ("$r", repository), ("$t", tag), ("$d", digest.ToString()));
        c.Execute("DELETE FROM retired_tags WHERE repository=$r AND tag=$t", null, ("$r", repository), ("$t", tag));
    }

    // ---- retired_tags ------------------------------------------------------------------------

    /// <summary>Tags retention removed, with the digest they had: sync down does not copy them again while the parent's tag keeps that digest.</summary>
    public static Dictionary<string, Digest> RetiredTags(SqliteConnection c, string repository) =>
        TagDigests(c, "SELECT tag, digest FROM retired_tags WHERE repository=$r", repository);

    /// <summary>
    /// Marks tags as removed by retention, in one transaction; sync's own record of them goes. Two statements over the
    /// whole list as one JSON parameter (a pass retires tens of thousands; a statement per tag was most of this).
    /// </summary>
    public static void Retire(SqliteConnection c, IEnumerable<(string Repository, string Tag, Digest Digest)> tags)
    {
        var list = JsonConvert.SerializeObject(tags.Select(x => new[] { x.Repository, x.Tag, x.Digest.ToString() }));
        using var transaction = c.BeginTransaction();
        c.Execute(
            "INSERT INTO retired_tags(repository, tag, digest) SELECT value->>0, value->>1, value->>2 FROM json_each($list) WHERE true ON CONFLICT(repository, tag) DO UPDATE SET digest=excluded.digest",
            transaction, ("$list", list));
        c.Execute(
            "DELETE FROM synced_tags WHERE rowid IN (SELECT s.rowid FROM json_each($list) j JOIN synced_tags s ON s.repository = j.value->>0 AND s.tag = j.value->>1)",
            transaction, ("$list", list));
        transaction.Commit();
    }

    public static void ForgetSynced(SqliteConnection c, string repository, string tag) =>
        c.Execute("DELETE FROM synced_tags WHERE repository=$r AND tag=$t", null, ("$r", repository), ("$t", tag));

    // ---- outbox ------------------------------------------------------------------------------

    /// <summary>Pending items, oldest first.</summary>
    public static List<OutboxItem> Pending(SqliteConnection c, int limit)
    {
        using var command = c.Command("SELECT id, kind, repository, digest, media_type, tag, created, attempts FROM outbox ORDER BY id LIMIT $n", null, ("$n", limit));
        using var reader = command.ExecuteReader();
        var items = new List<OutboxItem>();
        while (reader.Read())
        {
            Digest? digest = !reader.IsDBNull(3) && Digest.TryParse(reader.GetString(3), out var d) ? d : null;
            items.Add(new OutboxItem(
                reader.GetInt64(0),
                Enum.Parse<OutboxKind>(reader.GetString(1)),
                reader.GetString(2),
                digest,
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)),
                reader.GetInt32(7)));
        }

        return items;
    }

    public static int Count(SqliteConnection c) =>
        Convert.ToInt32(c.Scalar("SELECT COUNT(*) FROM outbox"), System.Globalization.CultureInfo.InvariantCulture);

    public static bool HasPendingTag(SqliteConnection c, string repository, string tag) =>
        c.Scalar("SELECT 1 FROM outbox WHERE repository=$r AND tag=$t LIMIT 1", null, ("$r", repository), ("$t", tag)) is not null;

    public static void Insert(SqliteConnection c, OutboxKind kind, string repository, Digest? digest, string? mediaType, string? tag, long created) =>
        c.Execute("INSERT INTO outbox(kind, repository, digest, media_type, tag, created) VALUES ($k, $r, $d, $m, $t, $c)",
            null, ("$k", kind.ToString()), ("$r", repository), ("$d", digest?.ToString()), ("$m", mediaType), ("$t", tag), ("$c", created));

    public static void Delete(SqliteConnection c, long id) => c.Execute("DELETE FROM outbox WHERE id=$id", null, ("$id", id));

    public static void MarkFailed(SqliteConnection c, long id, string error) =>
        c.Execute("UPDATE outbox SET attempts=attempts+1, last_error=$e WHERE id=$id", null, ("$id", id), ("$e", error));

    public static void DeleteCreatedBefore(SqliteConnection c, long cutoff) =>
        c.Execute("DELETE FROM outbox WHERE created < $c", null, ("$c", cutoff));

    // ---- upload_sessions ---------------------------------------------------------------------

    public static ParentUpload? FindUpload(SqliteConnection c, string parent, string repository, Digest digest)
    {
        using var command = c.Command("SELECT location, offset, chunk_min FROM upload_sessions WHERE parent=$p AND repository=$r AND digest=$d", null,
            ("$p", parent), ("$r", repository), ("$d", digest.ToString()));
        using var reader = command.ExecuteReader();
        return reader.Read() && Uri.TryCreate(reader.GetString(0), UriKind.Absolute, out var location)
            ? new ParentUpload(location, reader.GetInt64(1), reader.GetInt64(2))
            : null;
    }

    public static void SaveUpload(SqliteConnection c, string parent, string repository, Digest digest, ParentUpload upload, long updated) =>
        c.Execute(
            "INSERT INTO upload_sessions(parent, repository, digest, location, offset, chunk_min, updated) VALUES ($p, $r, $d, $l, $o, $m, $u) " +
            "ON CONFLICT(parent, repository, digest) DO UPDATE SET location=excluded.location, offset=excluded.offset, chunk_min=excluded.chunk_min, updated=excluded.updated",
            null, ("$p", parent), ("$r", repository), ("$d", digest.ToString()), ("$l", upload.Location.ToString()), ("$o", upload.Offset), ("$m", upload.ChunkMinLength), ("$u", updated));

    public static void ForgetUpload(SqliteConnection c, string parent, string repository, Digest digest) =>
        c.Execute("DELETE FROM upload_sessions WHERE parent=$p AND repository=$r AND digest=$d", null, ("$p", parent), ("$r", repository), ("$d", digest.ToString()));

    public static int ForgetUploadsBefore(SqliteConnection c, long cutoff) =>
        c.Execute("DELETE FROM upload_sessions WHERE updated < $c", null, ("$c", cutoff));
}
