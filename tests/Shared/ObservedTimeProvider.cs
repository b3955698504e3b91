using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.Testing;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that shows what waits on it: how often a timer was armed and when the armed ones
/// are due. A test that moves the clock waits for the component to arm its timer (it reached its waiting point)
/// instead of sleeping, and one that asserts nothing happened checks that the timer is still armed where it was.
/// </summary>
public sealed class ObservedTimeProvider(DateTimeOffset start) : FakeTimeProvider(start)
{
    private readonly Lock _gate = new();
    private readonly List<ObservedTimer> _timers = [];
    private int _armings;

    /// <summary>How many times a timer was armed (created or changed with a finite due time): a component's waits.</summary>
    public int Armings => Volatile.Read(ref _armings);

    /// <summary>When the armed timers are due next.</summary>
    public IReadOnlyList<DateTimeOffset> Due
    {
        get
        {
            lock (_gate)
            {
                return [.. _timers.Where(t => t.Due is not null).Select(t => t.Due!.Value)];
            }
        }
    }

    /// <summary>
    /// Whether a timer is armed to fire at <paramref name="at"/>, to the millisecond (<c>Task.Delay</c> truncates its
    /// delay to whole milliseconds before it creates the timer).
    /// </summary>
    public bool IsArmedAt(DateTimeOffset at) => Due.Any(due => (due - at).Duration() < TimeSpan.FromMilliseconds(1));

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ObservedTimer(this);
        lock (_gate)
        {
            _timers.Add(timer);
        }

        // Armed before the fake timer exists: a due time of zero fires inside CreateTimer.
        timer.Arm(dueTime, period);
        timer.Inner = base.CreateTimer(s => { timer.Fired(); callback(s); }, state, dueTime, period);
        return timer;
    }

    private void Forget(ObservedTimer timer)
    {
        lock (_gate)
        {
            _timers.Remove(timer);
        }
    }

    private sealed class ObservedTimer(ObservedTimeProvider owner) : ITimer
    {
        private readonly Lock _gate = new();
        private TimeSpan _period = Timeout.InfiniteTimeSpan;
        private DateTimeOffset? _due;

        public ITimer Inner { get; set; } = null!;

        public DateTimeOffset? Due
        {
            get
            {
                lock (_gate)
                {
                    return _due;
                }
            }
        }

        public void Arm(TimeSpan dueTime, TimeSpan period)
        {
            lock (_gate)
            {
                _period = period;
                _due = dueTime == Timeout.InfiniteTimeSpan ? null : owner.GetUtcNow() + dueTime;
            }

            if (dueTime != Timeout.InfiniteTimeSpan)
            {
                Interlocked.Increment(ref owner._armings);
            }
        }

        public void Fired()
        {
            lock (_gate)
            {
                _due = _period == Timeout.InfiniteTimeSpan || _period == TimeSpan.Zero ? null : _due + _period;
            }
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            Arm(dueTime, period);
            return Inner.Change(dueTime, period);
        }

        public void Dispose()
        {
            owner.Forget(this);
            Inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            owner.Forget(this);
            return Inner.DisposeAsync();
        }
    }
}
