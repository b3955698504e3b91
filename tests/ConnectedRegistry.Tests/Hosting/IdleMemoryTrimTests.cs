using ConnectedRegistry.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.Tests.Hosting;

/// <summary>Alone: the real collection's test reads the process's committed heap, which other tests' allocations move.</summary>
[CollectionDefinition(nameof(IdleMemoryTrimTests), DisableParallelization = true)]
public sealed class IdleMemoryTrimCollection;

[Collection(nameof(IdleMemoryTrimTests))]
public sealed class IdleMemoryTrimTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero));
    private int _collections;

    private IdleMemoryTrim Trim() => new(_time, NullLogger<IdleMemoryTrim>.Instance, () => _collections++);

    [Fact]
    public void Nothing_is_collected_before_the_first_request()
    {
        var trim = Trim();
        _time.Advance(TimeSpan.FromHours(1));

        Assert.False(trim.TrimIfIdle());
        Assert.Equal(0, _collections);
    }

    [Fact]
    public void After_requests_stop_it_collects_at_30_s_and_at_90_s_then_never_until_the_next_request()
    {
        var trim = Trim();
        trim.Touch();
        _time.Advance(IdleMemoryTrim.FirstAfter - TimeSpan.FromSeconds(1));
        Assert.False(trim.TrimIfIdle()); // still busy by the clock
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(trim.TrimIfIdle());
        Assert.False(trim.TrimIfIdle()); // once per threshold
        _time.Advance(IdleMemoryTrim.SecondAfter - IdleMemoryTrim.FirstAfter);
        Assert.True(trim.TrimIfIdle());
        _time.Advance(TimeSpan.FromDays(1));
        Assert.False(trim.TrimIfIdle()); // an idle registry costs nothing
        Assert.Equal(2, _collections);

        trim.Touch();
        _time.Advance(IdleMemoryTrim.FirstAfter);
        Assert.True(trim.TrimIfIdle());
        Assert.Equal(3, _collections);
    }

    [Fact]
    public void Requests_that_keep_coming_hold_it_off()
    {
        var trim = Trim();
        for (var i = 0; i < 100; i++)
        {
            trim.Touch();
            _time.Advance(TimeSpan.FromSeconds(10));
            Assert.False(trim.TrimIfIdle());
        }

        Assert.Equal(0, _collections);
    }

    [Fact]
    public void The_real_collection_gives_back_what_garbage_held()
    {
        // The real action: a burst's garbage (64 MiB of arrays, then dropped) is decommitted by the collection.
        var trim = new IdleMemoryTrim(_time, NullLogger<IdleMemoryTrim>.Instance);
        var held = CommittedWithBurstAlive();
        trim.Touch();
        _time.Advance(IdleMemoryTrim.FirstAfter);

        Assert.True(trim.TrimIfIdle());
        var after = GC.GetGCMemoryInfo(GCKind.Any).TotalCommittedBytes;
        Assert.True(after < held - (32L << 20), $"committed {held >> 20} MB before the collection, {after >> 20} MB after");
        Assert.Equal(1, trim.Trims);
    }

    /// <summary>64 MiB of arrays, alive while the heap is read (a collection of the youngest generation); garbage on return.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static long CommittedWithBurstAlive()
    {
        var burst = new List<byte[]>();
        for (var i = 0; i < 64; i++)
        {
            var chunk = new byte[1 << 20];
            Random.Shared.NextBytes(chunk.AsSpan(0, 4096));
            burst.Add(chunk);
        }

        GC.Collect(0); // the info read is the last collection's
        var held = GC.GetGCMemoryInfo().TotalCommittedBytes;
        GC.KeepAlive(burst);
        return held;
    }
}
