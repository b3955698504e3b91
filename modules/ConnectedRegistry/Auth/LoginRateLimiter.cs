using System.Collections.Concurrent;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Auth;

/// <summary>
/// Counts failed logins in a sliding window, per source address and user name
/// (<see cref="AuthOptions.MaxFailuresPerWindow"/>) and per source address alone
/// (<see cref="AuthOptions.MaxFailuresPerAddress"/>). Once a count reaches its limit, further attempts
/// with credentials are refused (429 with Retry-After) until the oldest failure leaves the window.
/// The two levels matter on nested IoT Edge devices, where every lower-layer client arrives through
/// the same API proxy address: one child retrying a wrong password must not lock out the others,
/// while guessing across many names from one address stays slow. Successful logins reset nothing.
/// </summary>
public sealed class LoginRateLimiter(TimeProvider time, AuthOptions options, RegistryMetrics? metrics = null)
{
    private const int MaxTrackedKeys = 10_000;
    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _failures = new(StringComparer.Ordinal);

    /// <summary>True when <paramref name="address"/> (or, when given, that address with <paramref name="user"/>) is over its limit.</summary>
    public bool IsBlocked(string address, string? user, out TimeSpan retryAfter)
    {
        var now = time.GetUtcNow();
        if (Over(AddressKey(address), options.MaxFailuresPerAddress, now, out retryAfter))
        {
            return true;
        }

        return user is not null && Over(UserKey(address, user), options.MaxFailuresPerWindow, now, out retryAfter);
    }

    /// <summary>Every refused login goes through here (and is counted in the metrics).</summary>
    public void RecordFailure(string address, string? user)
    {
        metrics?.LoginFailed();
        var now = time.GetUtcNow();
        if (_failures.Count >= MaxTrackedKeys)
        {
            Sweep(now);
        }

        Add(AddressKey(address), now);
        if (user is not null)
        {
            Add(UserKey(address, user), now);
        }
    }

    private static string AddressKey(string address) => address;

    private static string UserKey(string address, string user) => string.Concat(address, "\n", user);

    private bool Over(string key, int limit, DateTimeOffset now, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (!_failures.TryGetValue(key, out var queue))
        {
            return false;
        }

        lock (queue)
        {
            Trim(queue, now);
            if (queue.Count < limit)
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

    private void Add(string key, DateTimeOffset now)
    {
        var queue = _failures.GetOrAdd(key, _ => new Queue<DateTimeOffset>());
        lock (queue)
        {
            Trim(queue, now);
            queue.Enqueue(now);

            // Nothing beyond the larger limit is ever needed to decide.
            while (queue.Count > Math.Max(options.MaxFailuresPerWindow, options.MaxFailuresPerAddress))
            {
                queue.Dequeue();
            }
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
        foreach (var (key, queue) in _failures)
        {
            lock (queue)
            {
                Trim(queue, now);
                if (queue.Count == 0)
                {
                    _failures.TryRemove(key, out _);
                }
            }
        }
    }
}
