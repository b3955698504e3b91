using System.Globalization;
using ConnectedRegistry.Storage;
using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.Hierarchy;

/// <summary>
/// Every SQL statement of <c>hierarchy.db</c> (<see cref="HierarchyStore"/>): the schema and the queries of
/// <c>changes</c> (<see cref="ChangeLog"/>), <c>child_activations</c> (<see cref="ChildActivations"/>) and
/// <c>local_activation</c> (<see cref="LocalActivation"/>). No other class writes SQL for this database.
/// </summary>
internal static class HierarchySql
{
    public const string Schema = """
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
        """;

    public static void CreateSchema(SqliteConnection c) => c.Execute(Schema, null);

    // ---- changes -----------------------------------------------------------------------------

    /// <summary>The last sequence number ever handed out (0 when none), kept by SQLite even when the rows are pruned.</summary>
    public static long LastAssignedChange(SqliteConnection c) => Scalar(c, "SELECT seq FROM sqlite_sequence WHERE name='changes'") ?? 0;

    public static long? OldestChange(SqliteConnection c) => Scalar(c, "SELECT MIN(seq) FROM changes");

    public static long? NewestChange(SqliteConnection c) => Scalar(c, "SELECT MAX(seq) FROM changes");

    public static long? NewestChangeBefore(SqliteConnection c, DateTimeOffset before) =>
        Scalar(c, "SELECT MAX(seq) FROM changes WHERE time < $before", ("$before", Time(before)));

    /// <summary>Records a change and returns its sequence number.</summary>
    public static long? AppendChange(SqliteConnection c, string repository, string? tag, string? digest, string operation, DateTimeOffset time) =>
        Scalar(c, "INSERT INTO changes(repository, tag, digest, operation, time) VALUES ($r, $t, $d, $o, $time) RETURNING seq",
            ("$r", repository), ("$t", tag), ("$d", digest), ("$o", operation), ("$time", Time(time)));

    /// <summary>Up to <paramref name="pageSize"/> changes after <paramref name="after"/> and up to <paramref name="through"/>, in order.</summary>
    public static List<ChangeEntry> Changes(SqliteConnection c, long after, long through, int pageSize)
    {
        using var command = c.Command("SELECT seq, repository, tag, digest, operation, time FROM changes WHERE seq > $s AND seq <= $last ORDER BY seq LIMIT $n",
            null, ("$s", after), ("$last", through), ("$n", pageSize));
        using var reader = command.ExecuteReader();
        var page = new List<ChangeEntry>();
        while (reader.Read())
        {
            page.Add(new ChangeEntry(reader.GetInt64(0), reader.GetString(1), NullableString(reader, 2), NullableString(reader, 3), reader.GetString(4), ParseTime(reader.GetString(5))));
        }

        return page;
    }

    public static void DeleteChangesThrough(SqliteConnection c, long through) =>
        c.Execute("DELETE FROM changes WHERE seq <= $through", null, ("$through", through));

    // ---- child_activations -------------------------------------------------------------------

    public static void SaveChild(SqliteConnection c, ChildActivation record) =>
        c.Execute("""
            INSERT INTO child_activations(name, state, instance_id, device_id, module_id, generation_id, mode, activated, last_seen)
            VALUES ($n, $s, $i, $d, $m, $g, $mode, $a, $l)
            ON CONFLICT(name) DO UPDATE SET state=excluded.state, instance_id=excluded.instance_id, device_id=excluded.device_id,
              module_id=excluded.module_id, generation_id=excluded.generation_id, mode=excluded.mode, activated=excluded.activated, last_seen=excluded.last_seen
            """,
            null, ("$n", record.Name), ("$s", record.State), ("$i", record.InstanceId), ("$d", record.DeviceId), ("$m", record.ModuleId), ("$g", record.GenerationId),
            ("$mode", record.Mode), ("$a", Time(record.Activated)), ("$l", Time(record.LastSeen)));

    public static void SetChildLastSeen(SqliteConnection c, string child, DateTimeOffset lastSeen) =>
        c.Execute("UPDATE child_activations SET last_seen=$l WHERE name=$n", null, ("$n", child), ("$l", Time(lastSeen)));

    public static void SetChildState(SqliteConnection c, string child, string state) =>
        c.Execute("UPDATE child_activations SET state=$s WHERE name=$n", null, ("$n", child), ("$s", state));

    public static ChildActivation? Child(SqliteConnection c, string child)
    {
        using var command = c.Command(
            "SELECT name, state, instance_id, device_id, module_id, generation_id, mode, activated, last_seen FROM child_activations WHERE name=$n", null, ("$n", child));
        using var reader = command.ExecuteReader();
        if (!reader.Read())
        {
            return null;
        }

        return new ChildActivation(reader.GetString(0), reader.GetString(1), reader.GetString(2), NullableString(reader, 3), NullableString(reader, 4),
            NullableString(reader, 5), NullableString(reader, 6), ParseTime(reader.GetString(7)), ParseTime(reader.GetString(8)));
    }

    // ---- local_activation --------------------------------------------------------------------

    public static void SaveLocal(SqliteConnection c, LocalActivationRecord record) =>
        c.Execute("""
            INSERT INTO local_activation(id, instance_id, state, via, parent, generation_id, reason, updated) VALUES (1, $i, $s, $v, $p, $g, $r, $u)
            ON CONFLICT(id) DO UPDATE SET state=excluded.state, via=excluded.via, parent=excluded.parent, generation_id=excluded.generation_id, reason=excluded.reason, updated=excluded.updated
            """,
            null, ("$i", record.InstanceId), ("$s", record.State), ("$v", record.Via), ("$p", record.Parent), ("$g", record.GenerationId), ("$r", record.Reason), ("$u", Time(record.Updated)));

    /// <summary>This registry's activation record (its <see cref="LocalActivationRecord.Message"/> left for the caller to word), or null before the first.</summary>
    public static LocalActivationRecord? Local(SqliteConnection c)
    {
        using var command = c.Command("SELECT instance_id, state, via, parent, generation_id, reason, updated FROM local_activation WHERE id=1", null);
        using var reader = command.ExecuteReader();
        if (!reader.Read())
        {
            return null;
        }

        return new LocalActivationRecord(reader.GetString(0), reader.GetString(1), NullableString(reader, 2), NullableString(reader, 3),
            NullableString(reader, 4), NullableString(reader, 5), null, ParseTime(reader.GetString(6)));
    }

    /// <summary>Writes the first record: a new instance id, inactive.</summary>
    public static void InsertLocal(SqliteConnection c, LocalActivationRecord record) =>
        c.Execute("INSERT INTO local_activation(id, instance_id, state, updated) VALUES (1, $i, $s, $u)",
            null, ("$i", record.InstanceId), ("$s", record.State), ("$u", Time(record.Updated)));

    // ---- values ------------------------------------------------------------------------------

    /// <summary>How times are stored (and shown): round-trip ISO 8601 in UTC.</summary>
    public static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("o", CultureInfo.InvariantCulture);

    private static DateTimeOffset ParseTime(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private static string? NullableString(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static long? Scalar(SqliteConnection c, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = c.Command(sql, null, parameters);
        return command.ExecuteScalar() is long value ? value : null;
    }
}
