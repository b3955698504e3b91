using System.Globalization;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Auth;

/// <summary>
/// Counts failed logins in a sliding window, per client address and user name
/// (<see cref="AuthOptions.MaxFailuresPerWindow"/>) and per client address alone
/// (<see cref="AuthOptions.MaxFailuresPerAddress"/>). An attempt that may fail (a password that needs the KDF,
/// a refresh token that did not validate, a malformed header) first reserves its place: failures plus attempts
/// still running never exceed a limit, so a burst of 300 concurrent bad logins gets exactly 50 answers of 401
/// through a limit of 50, not 52.
/// <para>
/// Past a limit, an attempt with nothing to check (<see cref="Begin"/>: a malformed header, a bad refresh token) is
/// refused (429 TOOMANYREQUESTS with Retry-After) until the oldest failure leaves the window. An attempt with a
/// password (<see cref="BeginAsync"/>) is still checked, so a guesser cannot lock the owner of a name out (behind the
/// stock API proxy every client shares one address): it waits for the name's lane, where one check per address and
/// name runs at a time and <see cref="MaxLaneWaiters"/> more may wait; one more is refused at once. A correct password
/// gets in; a wrong one is answered 429 after <see cref="AuthOptions.OverLimitFailureDelay"/>, which holds a guesser
/// that waits for its answers to the rate of the limit.
/// </para>
/// <para>
/// Only attempts that can fail are counted or refused: a valid bearer token, a valid refresh token and a
/// credential verified within the last minutes never ask the limiter, so they are never refused because of
/// someone else's failures. The client address is the one <see cref="ClientAddress"/> resolves (behind a
/// trusted proxy, from <c>X-Forwarded-For</c>); when a trusted proxy does not say who its client is, the
/// address-wide level is skipped, since it would lock out every client behind that proxy at once.
/// </para>
/// <para>
/// Names that exist are counted apart from names that do not, so a flood of made-up names can neither grow the
/// counts without bound (those of unknown names are dropped when there are too many) nor push out the counts of a
/// real name. Both are limited alike, so a 429 does not tell whether a name exists.
/// </para>
/// </summary>
public sealed class LoginRateLimiter(TimeProvider time, AuthOptions options, RegistryMetrics? metrics = null)
{
    /// <summary>Attempts over a limit that may wait for the lane of one address and name; one more is refused at once.</summary>
    public const int MaxLaneWaiters = 2;

    private const int MaxTrackedKeys = 10_000;
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(10);
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Window> _unknownNames = new(StringComparer.Ordinal);
    private DateTimeOffset _lastSweep = DateTimeOffset.MinValue;

    /// <summary>
    /// Reserves a place for one attempt that may fail and has nothing to check; throws the 429 <see cref="OciException"/>
    /// when <paramref name="client"/> (or, with <paramref name="user"/>, that client with that name) is at its limit.
    /// Dispose the attempt when it succeeded; call <see cref="LoginAttempt.Failed"/> when it did not.
    /// </summary>
    public LoginAttempt Begin(ClientAddress client, string? user)
    {
        lock (_gate)
        {
            var (address, named) = Windows(client, user, knownName: true);
            if (OverLimit(address, named) is { } full)
            {
                throw TooManyRequests(full.RetryAfter(time.GetUtcNow(), options.FailureWindow));
            }

            address?.Reserve();
            named?.Reserve();
            return new LoginAttempt(this, address, named, lane: false);
        }
    }

    /// <summary>
    /// Reserves a place for one password check by <paramref name="client"/> as <paramref name="user"/>. Under the limits
    /// it returns at once; over one, it waits for the lane of that address and name (see the class) and returns an
    /// attempt whose <see cref="LoginAttempt.OverLimit"/> is true, or throws the 429 when the lane is full or the wait
    /// is too long. <paramref name="knownName"/> says whether the name exists (its counts are kept apart).
    /// </summary>
    public async Task<LoginAttempt> BeginAsync(ClientAddress client, string user, bool knownName, CancellationToken cancellationToken)
    {
        Window named;
        Window? address;
        lock (_gate)
        {
            (address, var maybeNamed) = Windows(client, user, knownName);
            named = maybeNamed!;
            var full = OverLimit(address, named);
            address?.Reserve();
            named.Reserve();
            if (full is null)
            {
                return new LoginAttempt(this, address, named, lane: false);
            }

            if (named.LaneWaiters >= MaxLaneWaiters)
            {
                address?.Release(null, 0);
                named.Release(null, 0);
                throw TooManyRequests(full.RetryAfter(time.GetUtcNow(), options.FailureWindow));
            }

            named.LaneWaiters++;
        }

        var entered = false;
        try
        {
            entered = await named.Lane.WaitAsync(options.KdfQueueTimeout, cancellationToken);
        }
        finally
        {
            lock (_gate)
            {
                named.LaneWaiters--;
                if (!entered)
                {
                    address?.Release(null, 0);
                    named.Release(null, 0);
                }
            }
        }

        return entered
            ? new LoginAttempt(this, address, named, lane: true)
            : throw TooManyRequests(TimeSpan.FromSeconds(1));
    }

    /// <summary>The 429 for a wrong password that was checked over a limit, with the time until that client with that name is under it again.</summary>
    internal OciException OverLimitFailure(LoginAttempt attempt)
    {
        lock (_gate)
        {
            var window = attempt.Named ?? attempt.Address;
            return TooManyRequests(window?.RetryAfter(time.GetUtcNow(), options.FailureWindow) ?? TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>The 429 answer for a client over its limit (or a login that found the password check full).</summary>
    internal static OciException TooManyRequests(TimeSpan retryAfter, string message = "too many failed logins from this address")
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        var error = new OciException(OciErrorCode.TooManyRequests, $"{message}; retry in {seconds} s");
        error.Headers["Retry-After"] = seconds.ToString(CultureInfo.InvariantCulture);
        return error;
    }

    private static string AddressKey(string address) => address;

    private static string UserKey(string address, string user) => string.Concat(address, "\n", user);

    /// <summary>The windows an attempt counts in. Under the lock.</summary>
    private (Window? Address, Window? Named) Windows(ClientAddress client, string? user, bool knownName)
    {
        var now = time.GetUtcNow();
        if (now - _lastSweep >= SweepInterval && (_windows.Count >= MaxTrackedKeys || _unknownNames.Count >= MaxTrackedKeys))
        {
            // At most every few seconds: a sweep walks every key, and a flood must not make each attempt walk them.
            _lastSweep = now;
            Sweep(_windows, now);
            Sweep(_unknownNames, now);
        }

        if (_unknownNames.Count >= MaxTrackedKeys)
        {
            _unknownNames.Clear(); // made-up names guard no password: losing their counts costs nothing
        }

        var address = client.Identified ? Get(_windows, AddressKey(client.Address), now) : null;
        var named = user is null ? null : Get(knownName ? _windows : _unknownNames, UserKey(client.Address, user), now);
        return (address, named);
    }

    /// <summary>The window that is at its limit, if any. Under the lock.</summary>
    private Window? OverLimit(Window? address, Window? named) =>
        address is not null && address.Used >= options.MaxFailuresPerAddress ? address
        : named is not null && named.Used >= options.MaxFailuresPerWindow ? named
        : null;

    private Window Get(Dictionary<string, Window> windows, string key, DateTimeOffset now)
    {
        if (!windows.TryGetValue(key, out var window))
        {
            windows[key] = window = new Window();
        }

        window.Trim(now, options.FailureWindow);
        return window;
    }

    private void Complete(Window? address, Window? named, bool failed, bool lane)
    {
        if (failed)
        {
            metrics?.LoginFailed(); // every refused login passes here once
        }

        lock (_gate)
        {
            var now = time.GetUtcNow();
            var keep = Math.Max(options.MaxFailuresPerWindow, options.MaxFailuresPerAddress);
            address?.Release(failed ? now : null, keep);
            named?.Release(failed ? now : null, keep);
        }

        if (lane)
        {
            named!.Lane.Release();
        }
    }

    private void Sweep(Dictionary<string, Window> windows, DateTimeOffset now)
    {
        foreach (var (key, window) in windows.ToList())
        {
            window.Trim(now, options.FailureWindow);
            if (window.Used == 0 && window.LaneWaiters == 0)
            {
                windows.Remove(key);
            }
        }
    }

    /// <summary>One attempt's place in the counts: dispose it on success, call <see cref="Failed"/> on failure.</summary>
    public sealed class LoginAttempt : IDisposable
    {
        private readonly LoginRateLimiter _owner;
        private readonly bool _lane;
        private int _done;

        internal LoginAttempt(LoginRateLimiter owner, Window? address, Window? named, bool lane)
        {
            _owner = owner;
            Address = address;
            Named = named;
            _lane = lane;
        }

        /// <summary>The client was over a limit: the attempt holds the lane of its address and name, and a failure is answered 429.</summary>
        public bool OverLimit => _lane;

        internal Window? Address { get; }

        internal Window? Named { get; }

        /// <summary>The attempt failed: its reservation becomes a failure in the window.</summary>
        public void Failed()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                _owner.Complete(Address, Named, failed: true, _lane);
            }
        }

        /// <summary>Succeeded (or ended without a verdict): the reservation is released, nothing is counted.</summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                _owner.Complete(Address, Named, failed: false, _lane);
            }
        }
    }

    /// <summary>Failures within the window and attempts still running, for one key. Guarded by the limiter's lock.</summary>
    internal sealed class Window
    {
        private readonly Queue<DateTimeOffset> _failures = new();
        private SemaphoreSlim? _lane;
        private int _pending;

        public int Used => _failures.Count + _pending;

        /// <summary>Attempts over the limit waiting for <see cref="Lane"/>.</summary>
        public int LaneWaiters { get; set; }

        /// <summary>One password check at a time for an address and name over its limit (made on first use, never disposed: it holds no handle until waited on with a timeout, and then only briefly).</summary>
        public SemaphoreSlim Lane => LazyInitializer.EnsureInitialized(ref _lane, () => new SemaphoreSlim(1, 1));

        public void Reserve() => _pending++;

        public void Release(DateTimeOffset? failedAt, int keep)
        {
            _pending--;
            if (failedAt is { } at)
            {
                _failures.Enqueue(at);

                // Nothing beyond the larger limit is ever needed to decide.
                while (_failures.Count > keep)
                {
                    _failures.Dequeue();
                }
            }
        }

        public void Trim(DateTimeOffset now, TimeSpan window)
        {
            while (_failures.Count > 0 && _failures.Peek() + window <= now)
            {
                _failures.Dequeue();
            }
        }

        public TimeSpan RetryAfter(DateTimeOffset now, TimeSpan window)
        {
            // Full of attempts still running: they end within a KDF run or two.
            var retry = _failures.Count > 0 ? _failures.Peek() + window - now : TimeSpan.Zero;
            return retry < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : retry;
        }
    }
}
