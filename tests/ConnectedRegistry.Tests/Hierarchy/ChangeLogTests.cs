using ConnectedRegistry.Hierarchy;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.Tests.Hierarchy;

/// <summary>The change log on a real SQLite file: order, visibility, bounds, truncation, waking readers, surviving a restart.</summary>
public sealed class ChangeLogTests : IDisposable
{
    private static readonly Digest One = Digest.Compute("one"u8);
    private static readonly Digest Two = Digest.Compute("two"u8);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "ecr-tests", "changelog-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero));

    private ChangeLog Open(HierarchyOptions? options = null) =>
        new(new HierarchyStore(new DataLayout(_root)), options ?? new HierarchyOptions(), _time, NullLogger<ChangeLog>.Instance);

    [Fact]
    public void Records_client_and_sync_changes_in_order_and_shows_a_reader_only_what_it_may_see()
    {
        var log = Open();
        log.ManifestPushed("apps/web", One, "application/vnd.oci.image.manifest.v1+json", "v1");
        log.TagSynced("other/x", "v1", Two);
        log.TagDeleted("apps/web", "old");
        log.ManifestDeleted("apps/web", Two);
        log.TagRemoved("apps/api", "v0");

        var page = log.Read(0, 100, r => r.StartsWith("apps/", StringComparison.Ordinal));
        Assert.Equal(5, page.Last);
        Assert.False(page.Truncated);
        Assert.Equal(
            ["1 apps/web v1 " + One + " push", "3 apps/web old - delete", "4 apps/web - " + Two + " delete", "5 apps/api v0 - delete"],
            page.Changes.Select(c => $"{c.Sequence} {c.Repository} {c.Tag ?? "-"} {c.Digest ?? "-"} {c.Operation}"));
        Assert.Empty(log.Read(5, 100, _ => true).Changes);
    }

    [Fact]
    public void A_page_limit_leaves_more_and_the_cursor_continues_where_it_stopped()
    {
        var log = Open();
        for (var i = 0; i < 7; i++)
        {
            log.TagSynced("apps/web", $"v{i}", One);
        }

        var first = log.Read(0, 3, _ => true);
        Assert.True(first.More);
        Assert.Equal(3, first.Last);
        var second = log.Read(first.Last, 3, _ => true);
        Assert.Equal(["v3", "v4", "v5"], second.Changes.Select(c => c.Tag));
        var third = log.Read(second.Last, 3, _ => true);
        Assert.False(third.More);
        Assert.Equal(7, third.Last);
    }

    [Fact]
    public void The_log_is_bounded_by_count_and_age_and_a_reader_behind_it_is_told_to_resync()
    {
        var log = Open(new HierarchyOptions { ChangeLogMaxEntries = 50, ChangeLogMaxAge = TimeSpan.FromDays(1) });
        for (var i = 0; i < 250; i++)
        {
            log.TagSynced("apps/web", $"v{i}", One);
        }

        // Pruning runs every 200 changes: by then at most 50 are kept.
        var behind = log.Read(10, 10, _ => true);
        Assert.True(behind.Truncated);
        Assert.Equal(250, behind.Last);
        Assert.False(log.Read(240, 100, _ => true).Truncated);

        // After a restart a day later everything older is gone; sequences keep growing.
        _time.Advance(TimeSpan.FromDays(2));
        log = Open(new HierarchyOptions { ChangeLogMaxEntries = 50, ChangeLogMaxAge = TimeSpan.FromDays(1) });
        Assert.Equal(250, log.Last);
        Assert.True(log.Read(240, 100, _ => true).Truncated);
        Assert.False(log.Read(250, 100, _ => true).Truncated);
        log.TagSynced("apps/web", "fresh", Two);
        Assert.Equal("fresh", Assert.Single(log.Read(250, 100, _ => true).Changes).Tag);
        Assert.Equal(251, log.Last);
    }

    [Fact]
    public async Task A_waiting_reader_wakes_when_a_change_is_recorded_and_otherwise_when_its_time_is_up()
    {
        var log = Open();
        var waiting = log.WaitAsync(0, TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        log.TagSynced("apps/web", "v1", One);
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));

        var timed = log.WaitAsync(1, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.False(timed.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(31));
        await timed.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(1, log.Last);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
