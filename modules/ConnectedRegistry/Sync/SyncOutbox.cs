using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The persistent outbox of sync up: every client change to a ReadWrite registry with a parent (manifest or tag
/// pushed, manifest deleted, tag deleted) is recorded here, in order, and stays until <see cref="SyncUp"/> delivered
/// it or its message TTL expired. Lives in <c>sync.db</c> in the data root, so it survives restarts.
/// </summary>
public sealed partial class SyncOutbox : IRegistryEventSink, IPendingPushes
{
    private readonly SyncDatabase _db;
    private readonly IRegistrySettingsSource _settings;
    private readonly ModuleState _state;
    private readonly TimeProvider _time;
    private readonly SyncEnvironment _environment;
    private readonly ILogger<SyncOutbox> _logger;

    public SyncOutbox(DataLayout layout, IRegistrySettingsSource settings, ModuleState state, TimeProvider time, SyncEnvironment environment, ILogger<SyncOutbox> logger)
    {
        _settings = settings;
        _state = state;
        _time = time;
        _environment = environment;
        _logger = logger;
        _db = new SyncDatabase(layout, """
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
            """);
        ReportPending();
    }

    public void ManifestPushed(string repository, Digest digest, string mediaType, string? tag) =>
        Record(OutboxKind.PushManifest, repository, digest, mediaType, tag);

    public void ManifestDeleted(string repository, Digest digest) => Record(OutboxKind.DeleteManifest, repository, digest, null, null);

    public void TagDeleted(string repository, string tag) => Record(OutboxKind.DeleteTag, repository, null, null, tag);

    /// <summary>Pending items, oldest first.</summary>
    public IReadOnlyList<OutboxItem> Pending(int limit = 1000)
    {
        using var connection = _db.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, kind, repository, digest, media_type, tag, created, attempts FROM outbox ORDER BY id LIMIT $n";
        command.Parameters.AddWithValue("$n", limit);
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

    public int Count()
    {
        using var connection = _db.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM outbox";
        return Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>True when a push of <paramref name="repository"/>:<paramref name="tag"/> waits for delivery (sync down leaves that tag alone).</summary>
    public bool HasPendingTag(string repository, string tag)
    {
        using var connection = _db.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1 FROM outbox WHERE repository=$r AND tag=$t LIMIT 1";
        command.Parameters.AddWithValue("$r", repository);
        command.Parameters.AddWithValue("$t", tag);
        return command.ExecuteScalar() is not null;
    }

    public void Delivered(long id)
    {
        using (var connection = _db.Open())
        {
            SyncDatabase.Execute(connection, "DELETE FROM outbox WHERE id=$id", ("$id", id));
        }

        ReportPending();
    }

    public void Failed(long id, string error)
    {
        using var connection = _db.Open();
        SyncDatabase.Execute(connection, "UPDATE outbox SET attempts=attempts+1, last_error=$e WHERE id=$id", ("$id", id), ("$e", error));
    }

    /// <summary>Drops the items older than <paramref name="ttl"/>; returns them (they are reported, never silently lost).</summary>
    public IReadOnlyList<OutboxItem> DropExpired(TimeSpan ttl)
    {
        var cutoff = (_time.GetUtcNow() - ttl).ToUnixTimeMilliseconds();
        var expired = Pending(int.MaxValue).Where(i => i.Created.ToUnixTimeMilliseconds() < cutoff).ToList();
        if (expired.Count == 0)
        {
            return expired;
        }

        using (var connection = _db.Open())
        {
            SyncDatabase.Execute(connection, "DELETE FROM outbox WHERE created < $c", ("$c", cutoff));
        }

        foreach (var item in expired)
        {
            Log.Expired(_logger, item.Kind.ToString(), item.Repository, item.Tag ?? item.Digest?.ToString() ?? "-", item.Attempts);
        }

        _state.SetStatusDetail(new StatusDetail("SyncPushExpired", "Warning",
            $"{expired.Count} local change(s) were not delivered to the parent within the message TTL and were dropped", _time.GetUtcNow()));
        ReportPending();
        return expired;
    }

    private void Record(OutboxKind kind, string repository, Digest? digest, string? mediaType, string? tag)
    {
        var settings = _settings.Current;
        if (settings.Mode != RegistryMode.ReadWrite || ParentCredentials.ResolveEndpoint(settings, _environment.Get) is null)
        {
            return; // nothing goes up from a ReadOnly registry or one without a parent
        }

        using (var connection = _db.Open())
        {
            SyncDatabase.Execute(connection, "INSERT INTO outbox(kind, repository, digest, media_type, tag, created) VALUES ($k, $r, $d, $m, $t, $c)",
                ("$k", kind.ToString()), ("$r", repository), ("$d", digest?.ToString()), ("$m", mediaType), ("$t", tag), ("$c", _time.GetUtcNow().ToUnixTimeMilliseconds()));
        }

        ReportPending();
    }

    private void ReportPending()
    {
        var count = Count();
        _state.UpdateSync(s => s with { PendingPushes = count });
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4060, Level = LogLevel.Warning, Message = "Dropped an undelivered {Kind} of {Repository} ({Reference}) after {Attempts} attempts: its message TTL expired")]
        public static partial void Expired(ILogger logger, string kind, string repository, string reference, int attempts);
    }
}

public enum OutboxKind
{
    PushManifest,
    DeleteManifest,
    DeleteTag,
}

public sealed record OutboxItem(long Id, OutboxKind Kind, string Repository, Digest? Digest, string? MediaType, string? Tag, DateTimeOffset Created, int Attempts);
