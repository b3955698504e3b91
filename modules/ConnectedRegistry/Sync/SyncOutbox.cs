using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The persistent outbox of sync up: every client change to a ReadWrite registry with a parent (manifest or tag
/// pushed, manifest deleted, tag deleted) is recorded here, in order, and stays until <see cref="SyncUp"/> delivered
/// it or its message TTL expired. Lives in <c>sync.db</c> in the data root, so it survives restarts.
/// </summary>
public sealed partial class SyncOutbox : IRegistryEventSink, IPendingPushes
{
    /// <summary>The status detail (Warning) raised when local changes were dropped at <c>sync.messageTtl</c>.</summary>
    [StatusDetailCode]
    public const string ExpiredCode = "SyncPushExpired";

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
        _db = new SyncDatabase(layout, SyncSql.OutboxSchema);
        ReportPending();
    }

    /// <summary>
    /// Raised with the repository after a client change was recorded (the scheduler starts a sync-up soon after, when
    /// the link is open). Handlers must be quick: they run on the request's thread.
    /// </summary>
    public event Action<string>? Recorded;

    public void ManifestPushed(string repository, Digest digest, string mediaType, string? tag) =>
        Record(OutboxKind.PushManifest, repository, digest, mediaType, tag);

    public void ManifestDeleted(string repository, Digest digest) => Record(OutboxKind.DeleteManifest, repository, digest, null, null);

    public void TagDeleted(string repository, string tag) => Record(OutboxKind.DeleteTag, repository, null, null, tag);

    /// <summary>Pending items, oldest first.</summary>
    public IReadOnlyList<OutboxItem> Pending(int limit = 1000)
    {
        using var connection = _db.Open();
        return SyncSql.Pending(connection, limit);
    }

    public int Count()
    {
        using var connection = _db.Open();
        return SyncSql.Count(connection);
    }

    /// <summary>True when a push of <paramref name="repository"/>:<paramref name="tag"/> waits for delivery (sync down leaves that tag alone).</summary>
    public bool HasPendingTag(string repository, string tag)
    {
        using var connection = _db.Open();
        return SyncSql.HasPendingTag(connection, repository, tag);
    }

    public void Delivered(long id)
    {
        using (var connection = _db.Open())
        {
            SyncSql.Delete(connection, id);
        }

        ReportPending();
    }

    public void Failed(long id, string error)
    {
        using var connection = _db.Open();
        SyncSql.MarkFailed(connection, id, error);
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
            SyncSql.DeleteCreatedBefore(connection, cutoff);
        }

        foreach (var item in expired)
        {
            Log.Expired(_logger, item.Kind.ToString(), item.Repository, item.Tag ?? item.Digest?.ToString() ?? "-", item.Attempts);
        }

        _state.SetStatusDetail(new StatusDetail(ExpiredCode, "Warning",
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
            SyncSql.Insert(connection, kind, repository, digest, mediaType, tag, _time.GetUtcNow().ToUnixTimeMilliseconds());
        }

        ReportPending();
        Recorded?.Invoke(repository);
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
