using System.Globalization;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Auth;

/// <summary>
/// Counts failed logins in a sliding window, per client address and user name
/// (<see cref="AuthOptions.MaxFailuresPerWindow"/>) and per client address alone
/// (<see cref="AuthOptions.MaxFailuresPerAddress"/>). An attempt that may fail (a password that needs the KDF,
/// a refresh token that did not validate, a malformed header) first reserves its place with <see cref="Begin"/>:
/// failures plus attempts still running never exceed a limit, so a burst of 300 concurrent bad logins gets
/// exactly 50 through a limit of 50, not 52. Past a limit the attempt is refused (429 TOOMANYREQUESTS with
/// Retry-After) until the oldest failure leaves the window.
/// <para>
/// Only attempts that can fail are counted or refused: a valid bearer token, a valid refresh token and a
/// credential verified within the last minutes never ask the limiter, so they are never refused because of
/// someone else's failures. The client address is the one <see cref="ClientAddress"/> resolves (behind a
/// trusted proxy, from <c>X-Forwarded-For</c>); when a trusted proxy does not say who its client is, the
/// address-wide level is skipped, since it would lock out every client behind that proxy at once.
/// </para>
/// </summary>
public sealed class LoginRateLimiter(TimeProvider time, AuthOptions options, RegistryMetrics? metrics = null)
{
    private const int MaxTrackedKeys = 10_000;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Window> _windows = new(StringComparer.Ordinal);

    /// <summary>
    /// Reserves a place for one attempt that may fail; throws the 429 <see cref="OciException"/> when
    /// <paramref name="client"/> (or, with <paramref name="user"/>, that client with that name) is at its limit.
    /// Dispose the attempt when it succeeded; call <see cref="LoginAttempt.Failed"/> when it did not.
    /// </summary>
    public LoginAttempt Begin(ClientAddress client, string? user)
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_windows.Count >= MaxTrackedKeys)
            {
                Sweep(now);
            }

            var address = client.Identified ? Get(AddressKey(client.Address), now) : null;
            var named = user is null ? null : Get(UserKey(client.Address, user), now);
            if (address is not null && address.Used >= options.MaxFailuresPerAddress)
            {
                throw TooManyRequests(address.RetryAfter(now, options.FailureWindow));
            }

            if (named is not null && named.Used >= options.MaxFailuresPerWindow)
            {
                throw TooManyRequests(named.RetryAfter(now, options.FailureWindow));
            }

            address?.Reserve();
            named?.Reserve();
            return new LoginAttempt(this, address, named);
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

    private Window Get(string key, DateTimeOffset now)
    {
        if (!_windows.TryGetValue(key, out var window))
        {
            _windows[key] = window = new Window();
        }

        window.Trim(now, options.FailureWindow);
        return window;
    }

    private void Complete(Window? address, Window? named, bool failed)
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
    }

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (key, window) in _windows.ToList())
        {
            window.Trim(now, options.FailureWindow);
            if (window.Used == 0)
            {
                _windows.Remove(key);
            }
        }
    }

    /// <summary>One attempt's place in the counts: dispose it on success, call <see cref="Failed"/> on failure.</summary>
    public sealed class LoginAttempt : IDisposable
    {
        private readonly LoginRateLimiter _owner;
        private readonly Window? _address;
        private readonly Window? _named;
        private int _done;

        internal LoginAttempt(LoginRateLimiter owner, Window? address, Window? named)
        {
            _owner = owner;
            _address = address;
            _named = named;
        }

        /// <summary>The attempt failed: its reservation becomes a failure in the window.</summary>
        public void Failed()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                _owner.Complete(_address, _named, failed: true);
            }
        }

        /// <summary>Succeeded (or ended without a verdict): the reservation is released, nothing is counted.</summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                _owner.Complete(_address, _named, failed: false);
            }
        }
    }

    /// <summary>Failures within the window and attempts still running, for one key. Guarded by the limiter's lock.</summary>
    internal sealed class Window
    {
        private readonly Queue<DateTimeOffset> _failures = new();
        private int _pending;

        public int Used => _failures.Count + _pending;

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
