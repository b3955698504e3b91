using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Hierarchy;

/// <summary>
/// The change log children follow through the change feed: every tag pushed or deleted by a client
/// (<see cref="IRegistryEventSink"/>) and every tag sync moved or removed (<see cref="ISyncChangeSink"/>),
/// numbered by a growing sequence, kept in <c>hierarchy.db</c>. Bounded: the newest
/// <see cref="HierarchyOptions.ChangeLogMaxEntries"/> entries no older than <see cref="HierarchyOptions.ChangeLogMaxAge"/>.
/// A reader whose cursor points before what is kept is told so (<see cref="ChangePage.Truncated"/>) and falls back to a full pass.
/// </summary>
public sealed partial class ChangeLog : IRegistryEventSink, ISyncChangeSink
{
    public const string Push = "push";
    public const string Delete = "delete";
    private readonly HierarchyStore _store;
    private readonly HierarchyOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<ChangeLog> _logger;
    private readonly Lock _gate = new();
    private TaskCompletionSource _appended = NewSignal();
    private long _last;
    private long _prunedThrough;
    private int _sincePrune;
    private int _waits;

    /// <summary>How many times a long poll has started waiting for a change (tests assert "still waiting" once it waits).</summary>
    internal int Waits => Volatile.Read(ref _waits);

    public ChangeLog(HierarchyStore store, HierarchyOptions options, TimeProvider time, ILogger<ChangeLog> logger)
    {
        _store = store;
        _options = options;
        _time = time;
        _logger = logger;
        Prune();
        using var connection = _store.Open();
        var assigned = HierarchySql.LastAssignedChange(connection);
        var oldest = HierarchySql.OldestChange(connection) ?? assigned + 1;
        _last = assigned;
        _prunedThrough = oldest - 1;
    }

    /// <summary>The sequence of the newest change (0 when there never was one).</summary>
    public long Last
    {
        get
        {
            lock (_gate)
            {
                return _last;
            }
        }
    }

    public void ManifestPushed(string repository, Digest digest, string mediaType, string? tag) => Append(repository, tag, digest, Push);

    public void ManifestDeleted(string repository, Digest digest) => Append(repository, null, digest, Delete);

    public void TagDeleted(string repository, string tag) => Append(repository, tag, null, Delete);

    public void TagSynced(string repository, string tag, Digest digest) => Append(repository, tag, digest, Push);

    public void TagRemoved(string repository, string tag) => Append(repository, tag, null, Delete);

    public void Append(string repository, string? tag, Digest? digest, string operation)
    {
        try
        {
            TaskCompletionSource signal;
            lock (_gate)
            {
                using var connection = _store.Open();
                _last = HierarchySql.AppendChange(connection, repository, tag, digest?.ToString(), operation, _time.GetUtcNow()) ?? _last;
                signal = _appended;
                _appended = NewSignal();
                if (++_sincePrune >= 200)
                {
                    _sincePrune = 0;
                    Prune();
                }
            }

            signal.TrySetResult();
        }
        catch (Exception ex)
        {
            Log.AppendFailed(_logger, ex, repository);
        }
    }

    /// <summary>Changes after <paramref name="since"/> the reader may see, at most <paramref name="limit"/>.</summary>
    public ChangePage Read(long since, int limit, Func<string, bool> visible)
    {
        long last;
        long prunedThrough;
        lock (_gate)
        {
            last = _last;
            prunedThrough = _prunedThrough;
        }

        if (since > last || since < prunedThrough)
        {
            // A cursor from before what is kept (or from another database): the reader must resync in full.
            return new ChangePage([], last, Truncated: true, More: false);
        }

        var result = new List<ChangeEntry>();
        var cursor = since;
        var more = false;
        using var connection = _store.Open();
        const int pageSize = 500;
        while (result.Count < limit)
        {
            var page = HierarchySql.Changes(connection, cursor, last, pageSize);
            foreach (var entry in page)
            {
                cursor = entry.Sequence;
                if (!visible(entry.Repository))
                {
                    continue;
                }

                result.Add(entry);
                if (result.Count >= limit)
                {
                    more = cursor < last;
                    break;
                }
            }

            if (page.Count < pageSize)
            {
                break;
            }
        }

        // The cursor moves past entries the reader may not see, so they are not read again.
        return new ChangePage(result, more ? result[^1].Sequence : last, Truncated: false, More: more);
    }

    /// <summary>Completes when a change newer than <paramref name="since"/> exists, or after <paramref name="wait"/>.</summary>
    public async Task WaitAsync(long since, TimeSpan wait, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + wait;
        while (!cancellationToken.IsCancellationRequested)
        {
            Task appended;
            lock (_gate)
            {
                if (_last > since)
                {
                    return;
                }

                appended = _appended.Task;
            }

            var left = deadline - _time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return;
            }

            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var delay = Task.Delay(left, _time, cts.Token);
            Interlocked.Increment(ref _waits);
            await Task.WhenAny(appended, delay);
            await cts.CancelAsync();
        }
    }

    private void Prune()
    {
        using var connection = _store.Open();
        var byCount = (HierarchySql.NewestChange(connection) ?? 0) - _options.ChangeLogMaxEntries;
        var byAge = HierarchySql.NewestChangeBefore(connection, _time.GetUtcNow() - _options.ChangeLogMaxAge) ?? 0;
        var through = Math.Max(byCount, byAge);
        if (through <= 0)
        {
            return;
        }

        HierarchySql.DeleteChangesThrough(connection, through);
        _prunedThrough = Math.Max(_prunedThrough, through);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static partial class Log
    {
        [LoggerMessage(EventId = 5001, Level = LogLevel.Error, Message = "Could not record a change of {Repository} in the change log")]
        public static partial void AppendFailed(ILogger logger, Exception exception, string repository);
    }
}

public sealed record ChangeEntry(long Sequence, string Repository, string? Tag, string? Digest, string Operation, DateTimeOffset Time);

/// <param name="Last">The cursor to ask with next time.</param>
/// <param name="Truncated">The reader's cursor is older than what is kept (or unknown here): resync everything.</param>
/// <param name="More">More changes wait; ask again at once.</param>
public sealed record ChangePage(IReadOnlyList<ChangeEntry> Changes, long Last, bool Truncated, bool More);
