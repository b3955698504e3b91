using System.Collections.Concurrent;

namespace ConnectedRegistry.Auth;

/// <summary>
/// Counts failed logins per source address in a sliding window; once an address reaches the limit,
/// its further attempts with credentials are refused (429 with Retry-After) until the oldest failure
/// leaves the window. Successful logins do not reset the count, so guessing stays slow.
/// </summary>
public sealed class LoginRateLimiter(TimeProvider time, AuthOptions options)
{
    private const int MaxTrackedAddresses = 10_000;
    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _failures = new(StringComparer.Ordinal);

    public bool IsBlocked(string address, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (!_failures.TryGetValue(address, out var queue))
        {
            return false;
        }

        var now = time.GetUtcNow();
        lock (queue)
        {
            Trim(queue, now);
            if (queue.Count < options.MaxFailuresPerWindow)
            {
                return false;
            }

            retryAfter = queue.Peek() + options.FailureWindow - now;
            if (retryAfter < TimeSpan.FromSeconds(1))
            {
                retryAfter = TimeSpan.FromSeconds(1);
            }

            return true;
        }
    }

    public void RecordFailure(string address)
    {
        var now = time.GetUtcNow();
        if (_failures.Count >= MaxTrackedAddresses)
        {
            Sweep(now);
        }

        var queue = _failures.GetOrAdd(address, _ => new Queue<DateTimeOffset>());
        lock (queue)
        {
            Trim(queue, now);
            queue.Enqueue(now);
        }
    }

    private void Trim(Queue<DateTimeOffset> queue, DateTimeOffset now)
    {
        while (queue.Count > 0 && queue.Peek() + options.FailureWindow <= now)
        {
            queue.Dequeue();
        }
    }

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (address, queue) in _failures)
        {
            lock (queue)
            {
                Trim(queue, now);
                if (queue.Count == 0)
                {
                    _failures.TryRemove(address, out _);
                }
            }
        }
    }
}
