using System.Diagnostics;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Storage;

/// <summary>
/// One retention pass over the whole store (<see cref="RetentionPlanner"/> decides): the pulls noted in memory are
/// written first (<see cref="PullRecorder.FlushAsync"/>), everything is read in a few queries, the plan is made in memory,
/// and then, unless it is a dry run, the plan's first <c>maxRemovalsPerPass</c> units (the oldest) are sized, marked for
/// sync down and removed (the rest is <see cref="RetentionResult.Pending"/>, for the passes that follow,
/// <see cref="RetentionScheduler"/>). The removals go through <see cref="MetadataDatabase"/>'s serialised write in
/// batches of <see cref="BatchSize"/>, each removal decided again inside the write (a tag pushed again meanwhile, a
/// manifest a new tag or index now keeps, is left). Garbage collection then frees the blobs nothing references any
/// more; the removals and that collection hold the collector's run lock (<see cref="GarbageCollector.ExclusiveAsync{T}"/>),
/// so no other collection frees them in between and the bytes reported are the pass's. So a pass shares one lock discipline with pushes, sync and on-demand fetch, and a crash between two batches
/// leaves the store as the batches before it made it: never a tag pointing at missing content. One pass at a time.
/// </summary>
public sealed partial class RetentionPass
{
    /// <summary>Removals per write transaction: short enough not to hold up pushes, long enough to stay cheap.</summary>
    public const int BatchSize = 500;

    private readonly MetadataDatabase _db;
    private readonly BlobStore _blobs;
    private readonly PullRecorder _pulls;
    private readonly GarbageCollector _collector;
    private readonly IRegistrySettingsSource _settings;
    private readonly ModuleState _state;
    private readonly TimeProvider _time;
    private readonly ILogger<RetentionPass> _logger;
    private readonly ISyncHolds? _holds;
    private readonly RegistryMetrics? _metrics;
    private readonly IEventPublisher? _events;
    private readonly SemaphoreSlim _single = new(1, 1);

    public RetentionPass(MetadataDatabase db, BlobStore blobs, PullRecorder pulls, GarbageCollector collector, IRegistrySettingsSource settings, ModuleState state,
        TimeProvider time, ILogger<RetentionPass> logger, ISyncHolds? holds = null, RegistryMetrics? metrics = null, IEventPublisher? events = null)
    {
        _db = db;
        _blobs = blobs;
        _pulls = pulls;
        _collector = collector;
        _settings = settings;
        _state = state;
        _time = time;
        _logger = logger;
        _holds = holds;
        _metrics = metrics;
        _events = events;
    }

    /// <summary>
    /// Runs a pass. A dry run only decides and measures: it lists what would go and changes nothing (it writes the pull
    /// times noted in memory, as every flush interval does). Otherwise it removes and then runs garbage collection.
    /// </summary>
    public async Task<RetentionResult> RunAsync(bool dryRun, CancellationToken cancellationToken)
    {
        await _single.WaitAsync(cancellationToken);
        try
        {
            var started = Stopwatch.GetTimestamp();
            var phases = new PhaseClock();
            await _pulls.FlushAsync(cancellationToken);
            phases.End("flush");
            var settings = _settings.Current;
            var now = _time.GetUtcNow();
            var inventory = _db.Read(c =>
            {
                var tags = MetadataSql.RetentionTags(c);
                var manifests = MetadataSql.RetentionManifests(c);
                // Creation times only where untaggedAfter asks (the manifests no tag points at), looked up by key.
                var created = new Dictionary<(string Repository, string Digest), long>();
                if (settings.Storage.Retention.Rules.Any(r => r.UntaggedAfter is not null))
                {
                    var tagged = tags.Select(t => (t.Repository, t.Digest)).ToHashSet();
                    created = MetadataSql.CreatedOf(c, manifests.Select(m => (m.Repository, m.Digest)).Where(m => !tagged.Contains(m)));
                }

                return new RetentionInventory(tags, manifests, MetadataSql.IndexChildren(c), MetadataSql.AllLastPulls(c), _holds?.PendingPushes() ?? PendingPushes.None, created);
            });
            phases.End("read");
            var plan = RetentionPlanner.Plan(inventory, settings, now);
            phases.End("plan");
            var bound = settings.Storage.Retention.MaxRemovalsPerPass;
            if (dryRun)
            {
                // Everything the rules remove, with sizes, and how many passes of the bound that takes.
                var all = Size(plan.Units);
                phases.End("size");
                Finish(phases);
                return new RetentionResult(true, all.Tags, all.Manifests, all.BytesToFree, null, Stopwatch.GetElapsedTime(started))
                {
                    MaxRemovalsPerPass = bound,
                    Passes = (plan.Units.Count + bound - 1) / bound,
                };
            }

            // This pass takes the plan's first units (the oldest across all repositories); sizes and marks are only theirs.
            // They are removed repository by repository, each repository's in the plan's order (a unit's manifests depend
            // on the units of its repository before it, never on another repository's): in the plan's order a batch
            // spreads over every repository's pages where releases came to all of them in turn, and removing 90,000 took
            // 20.6 s of CPU instead of 2.9 s.
            var units = (plan.Units.Count > bound ? plan.Units.GetRange(0, bound) : plan.Units).OrderBy(u => u.Repository, StringComparer.Ordinal).ToList();
            var pending = plan.Units.Count - units.Count;
            var sized = Size(units);
            phases.End("size");

            // The removals and the collection after them hold the collector's run lock: a scheduled collection (on the
            // same schedule) cannot free the removed manifests' blobs in between, so bytesFreed is what this pass freed.
            var (tags, manifests, bytesFreed) = await _collector.ExclusiveAsync(async held =>
            {
                var (removedTags, removedManifests) = await RemoveAsync(units, sized, phases, cancellationToken);
                var freed = removedTags.Count + removedManifests.Count > 0 ? (await held.CollectAsync()).BytesFreed : 0;
                phases.End("collect");
                return (removedTags, removedManifests, freed);
            }, cancellationToken);
            Finish(phases);

            var result = new RetentionResult(false, tags, manifests, sized.BytesToFree, bytesFreed, Stopwatch.GetElapsedTime(started))
            {
                MaxRemovalsPerPass = bound,
                Pending = pending,
            };
            Report(result);
            return result;
        }
        finally
        {
            _single.Release();
        }
    }

    /// <summary>Removes the pass's units batch by batch; what was removed (a unit whose tag moved meanwhile is left out).</summary>
    private async Task<(List<RetiredTag> Tags, List<RetiredManifest> Manifests)> RemoveAsync(List<RetentionUnit> taken, SizedPlan sized, PhaseClock phases, CancellationToken cancellationToken)
    {
        // Pushes recorded since the inventory was read: their units are left alone.
        var pending = _holds?.PendingPushes() ?? PendingPushes.None;
        var pendingDigests = pending.Manifests.Select(m => (m.Repository, m.Digest.ToString())).ToHashSet();
        var units = taken
            .Select((unit, i) => (Unit: unit, Size: sized.UnitSizes[i]))
            .Where(u => (u.Unit.Tag is null || !pending.Tags.Contains((u.Unit.Repository, u.Unit.Tag))) && !u.Unit.Manifests.Any(m => pendingDigests.Contains((u.Unit.Repository, m))))
            .ToList();
        // Sync down is told first, in one transaction of sync.db (a mark on a tag that then stays is harmless: the next
        // pass that finds the tag here at the parent's digest clears it).
        _holds?.Retiring([.. units.Where(u => u.Unit.Tag is not null).Select(u => (u.Unit.Repository, u.Unit.Tag!, Digest.Parse(u.Unit.Digest)))]);
        phases.End("retiring");
        var tags = new List<RetiredTag>();
        var manifests = new List<RetiredManifest>();
        foreach (var batch in units.Chunk(BatchSize))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var done = await _db.BulkWriteAsync((c, t) =>
            {
                // Tags first, each only while unchanged since the plan (pushed again, moved or deleted: the newer state
                // stands, and its unit's manifests are not tried); then the manifests of the units that go, while nothing keeps them.
                var tagsGone = MetadataSql.DeleteUnchangedTags(c, t, batch.Where(u => u.Unit.Tag is not null).Select(u => (u.Unit.Repository, u.Unit.Tag!, u.Unit.Digest, u.Unit.Time)));
                var going = batch.Where(u => u.Unit.Tag is null || tagsGone.Contains((u.Unit.Repository, u.Unit.Tag))).ToList();
                var manifestsGone = MetadataSql.DeleteUnkeptManifests(c, t, [.. going.SelectMany(u => u.Unit.Manifests.Select(m => (u.Unit.Repository, m)))]);
                return going.Where(u => u.Unit.Tag is not null || u.Unit.Manifests.Any(m => manifestsGone.Contains((u.Unit.Repository, m)))).ToList();
            }, cancellationToken);
            foreach (var (unit, size) in done)
            {
                if (unit.Tag is { } tag)
                {
                    tags.Add(new RetiredTag(unit.Repository, tag, unit.Digest, size));
                }
                else
                {
                    manifests.Add(new RetiredManifest(unit.Repository, unit.Digest, size));
                }
            }
        }

        phases.End("remove");
        return (tags, manifests);
    }

    /// <summary>
    /// Each unit's size (its manifests and the blobs they reference, shared ones included) and the bytes of blobs that
    /// nothing else references once these units are gone (what garbage collection frees, its grace period aside).
    /// </summary>
    private SizedPlan Size(List<RetentionUnit> units)
    {
        var gone = units.SelectMany(u => u.Manifests.Select(m => (u.Repository, m))).ToList();
        var blobSizes = new Dictionary<string, long>(StringComparer.Ordinal);
        long BlobSize(string blob)
        {
            if (!blobSizes.TryGetValue(blob, out var size))
            {
                blobSizes[blob] = size = Digest.TryParse(blob, out var digest) ? _blobs.Size(digest) ?? 0 : 0;
            }

            return size;
        }

        var (blobBytes, unshared, manifestBytes) = _db.Read(c =>
        {
            var (perManifest, notShared) = MetadataSql.BlobBytesOf(c, gone, BlobSize);
            return (perManifest, notShared, MetadataSql.ManifestSizes(c, gone));
        });
        var tags = new List<RetiredTag>();
        var manifests = new List<RetiredManifest>();
        var unitSizes = new List<long>(units.Count);
        var next = 0; // gone lists every unit's manifests in plan order
        foreach (var unit in units)
        {
            long size = 0;
            foreach (var manifest in unit.Manifests)
            {
                size += manifestBytes[next] + blobBytes[next];
                next++;
            }

            unitSizes.Add(size);
            if (unit.Tag is { } tag)
            {
                tags.Add(new RetiredTag(unit.Repository, tag, unit.Digest, size));
            }
            else
            {
                manifests.Add(new RetiredManifest(unit.Repository, unit.Digest, size));
            }
        }

        return new SizedPlan(tags, manifests, unshared, unitSizes);
    }

    /// <summary>The wall and process CPU time of each phase of the last pass (in order), for the benchmark's breakdown; also logged at Debug.</summary>
    public IReadOnlyList<(string Phase, TimeSpan Wall, TimeSpan Cpu)> LastPhases { get; private set; } = [];

    private void Finish(PhaseClock phases)
    {
        LastPhases = phases.Phases;
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            Log.Phases(_logger, string.Join(", ", phases.Phases.Select(p => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{p.Phase} {p.Wall.TotalMilliseconds:0} ms ({p.Cpu.TotalMilliseconds:0} ms CPU)"))));
        }
    }

    /// <summary>Times the phases of a pass one after another: wall time, and the process's CPU time (other threads' too).</summary>
    private sealed class PhaseClock
    {
        private long _last = Stopwatch.GetTimestamp();
        private TimeSpan _lastCpu = Cpu();

        public List<(string Phase, TimeSpan Wall, TimeSpan Cpu)> Phases { get; } = [];

        public void End(string phase)
        {
            var now = Stopwatch.GetTimestamp();
            var cpu = Cpu();
            Phases.Add((phase, Stopwatch.GetElapsedTime(_last, now), cpu - _lastCpu));
            (_last, _lastCpu) = (now, cpu);
        }

        private static TimeSpan Cpu()
        {
            using var process = Process.GetCurrentProcess();
            return process.TotalProcessorTime;
        }
    }

    private void Report(RetentionResult result)
    {
        Log.Passed(_logger, result.Tags.Count, result.Manifests.Count, result.BytesFreed ?? 0, result.Duration.TotalMilliseconds, result.Pending ?? 0);
        _state.SetRetention(new RetentionStatus(_time.GetUtcNow(), result.Tags.Count, result.Manifests.Count, result.BytesFreed ?? 0, result.Pending ?? 0));
        _metrics?.RetentionPassed(result.Tags.Count, result.Manifests.Count, result.BytesFreed ?? 0);
        if (result.Tags.Count + result.Manifests.Count > 0)
        {
            _events?.Publish(new RegistryEvent(EventTypes.TagsRetired, _time.GetUtcNow())
            {
                Message = $"retention removed {result.Tags.Count} tag(s) and {result.Manifests.Count} untagged manifest(s); garbage collection freed {result.BytesFreed ?? 0} bytes" + (result.Pending > 0 ? $"; {result.Pending} removal(s) left to the next passes" : string.Empty),
                Data = new Dictionary<string, object?>
                {
                    ["tagsRemoved"] = result.Tags.Count,
                    ["manifestsRemoved"] = result.Manifests.Count,
                    ["bytesFreed"] = result.BytesFreed ?? 0,
                    ["pending"] = result.Pending ?? 0,
                    ["repositories"] = result.Tags.Select(t => t.Repository).Concat(result.Manifests.Select(m => m.Repository))
                        .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Take(MaxEventRepositories).ToArray(),
                },
            });
        }
    }

    /// <summary>At most this many repositories are named in a <c>TagsRetired</c> event (the counts cover all).</summary>
    public const int MaxEventRepositories = 20;

    private sealed record SizedPlan(List<RetiredTag> Tags, List<RetiredManifest> Manifests, long BytesToFree, List<long> UnitSizes);

    private static partial class Log
    {
        [LoggerMessage(EventId = 2110, Level = LogLevel.Information, Message = "Retention removed {Tags} tags and {Manifests} untagged manifests; garbage collection then freed {Bytes} bytes ({Milliseconds} ms); {Pending} removals left to the next passes")]
        public static partial void Passed(ILogger logger, int tags, int manifests, long bytes, double milliseconds, int pending);

        [LoggerMessage(EventId = 2112, Level = LogLevel.Debug, Message = "Retention pass phases: {Phases}")]
        public static partial void Phases(ILogger logger, string phases);
    }
}

/// <summary>A tag a pass removed (or would remove): <see cref="Size"/> is the bytes of what goes with it (0 when another tag keeps its image).</summary>
public sealed record RetiredTag(string Repository, string Tag, string Digest, long Size);

/// <summary>An untagged manifest a pass removed (or would remove), with the bytes of it, its children and their blobs.</summary>
public sealed record RetiredManifest(string Repository, string Digest, long Size);

/// <summary>
/// What a pass removed (or, a dry run, would remove): <see cref="BytesToFree"/> the bytes of blobs nothing else
/// references once they are gone; <see cref="BytesFreed"/> what garbage collection freed after the pass (null for a dry
/// run; less than <see cref="BytesToFree"/> while blobs are younger than its grace period).
/// </summary>
public sealed record RetentionResult(bool DryRun, IReadOnlyList<RetiredTag> Tags, IReadOnlyList<RetiredManifest> Manifests, long BytesToFree, long? BytesFreed, TimeSpan Duration)
{
    /// <summary>The bound in force (<c>storage.retention.maxRemovalsPerPass</c>).</summary>
    public int MaxRemovalsPerPass { get; init; } = RetentionSettings.DefaultMaxRemovalsPerPass;

    /// <summary>A pass: the removals the rules ask for beyond the bound, left to the next passes (null for a dry run).</summary>
    public int? Pending { get; init; }

    /// <summary>A dry run: how many passes of the bound remove everything it lists (null for a pass).</summary>
    public int? Passes { get; init; }
}
