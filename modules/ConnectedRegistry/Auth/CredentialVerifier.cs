using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace ConnectedRegistry.Auth;

/// <summary>
/// Checks a name and password against a stored hash, remembering successful checks for a short while
/// so that a pull of many blobs with Basic credentials runs the slow KDF once, not once per request.
/// <para>
/// The cache key is an HMAC-SHA256, under a random key made at start and never stored, of (name, password, stored
/// hash): it holds no password, a dump of the keys cannot be tested against guesses without the process's key, and a
/// changed hash in the twin can never match an old entry. An entry lives <see cref="AuthOptions.VerificationCacheLifetime"/>
/// from its last use, so a client that keeps pulling (a child syncing every minute) stays remembered; failures are
/// never cached. Concurrent checks of the same credential share one KDF run.
/// </para>
/// <para>
/// The KDF runs behind one gate for the whole process: at most <see cref="AuthOptions.MaxConcurrentKdfRuns"/> at a
/// time (one per two cores by default, so logins never take more than half the CPU), <see cref="AuthOptions.KdfQueueLength"/>
/// more waiting (asynchronously: no thread is held) up to <see cref="AuthOptions.KdfQueueTimeout"/>; anything past that
/// is answered 429 at once. A remembered credential never waits at the gate.
/// </para>
/// <para>
/// An unknown name runs no KDF: it waits (a timer, no CPU) as long as a KDF run takes, measured on the real runs
/// (per iteration, scaled to <see cref="PasswordHasher.DefaultIterations"/>). A cache of verified results cannot hide
/// an unknown name, since nothing about it is ever verified, and a dummy KDF would spend the very CPU a flood of made-up
/// names is after. The wait does not queue at the gate, so under a load of real checks an unknown name answers sooner than
/// a known one; names are configuration, not secrets, and the limits below treat both alike.
/// </para>
/// </summary>
public sealed class CredentialVerifier
{
    private const int MaxEntries = 4096;

    private readonly TimeProvider _time;
    private readonly AuthOptions _options;
    private readonly byte[] _cacheKey = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _recent = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task<bool>> _checking = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _slots;
    private long _kdfRuns;
    private int _admitted;
    private int _running;
    private int _maxRunning;

    // Measured KDF cost: nanoseconds per 1000 iterations, a moving average of real runs (0 until the first one).
    private long _nanosPerThousand;
    private int _realRuns;

    public CredentialVerifier(TimeProvider time, AuthOptions options)
    {
        _time = time;
        _options = options;
        _slots = new SemaphoreSlim(Math.Max(1, options.MaxConcurrentKdfRuns));
    }

    /// <summary>How many times the slow KDF ran (for tests and diagnostics).</summary>
    internal long KdfRuns => Interlocked.Read(ref _kdfRuns);

    /// <summary>The most KDF runs that were ever in progress at the same time (for tests and diagnostics).</summary>
    internal int MaxConcurrentKdfRuns => Volatile.Read(ref _maxRunning);

    /// <summary>What one KDF run at the default iteration count takes here, as measured so far.</summary>
    internal TimeSpan KdfDuration
    {
        get
        {
            var nanos = Interlocked.Read(ref _nanosPerThousand);
            return nanos == 0 ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromTicks(nanos * (PasswordHasher.DefaultIterations / 1000) / 100);
        }
    }

    /// <summary>True when this exact name, password and stored hash passed a check within the cache lifetime (no KDF; the entry's life starts again).</summary>
    public bool IsRemembered(string name, string password, string storedHash)
    {
        var key = CacheKey(name, password, storedHash);
        var now = _time.GetUtcNow();
        if (_recent.TryGetValue(key, out var until) && until > now)
        {
            _recent[key] = now + _options.VerificationCacheLifetime;
            return true;
        }

        return false;
    }

    /// <summary>
    /// Runs the KDF for <paramref name="password"/> against <paramref name="storedHash"/> behind the gate, and remembers a success.
    /// Throws the 429 <see cref="Oci.OciException"/> when the gate and its queue are full.
    /// </summary>
    public async Task<bool> VerifyAsync(string name, string password, string storedHash, CancellationToken cancellationToken)
    {
        if (IsRemembered(name, password, storedHash))
        {
            return true;
        }

        // The same credential already being checked (a client's parallel first requests) waits for that one run.
        var key = CacheKey(name, password, storedHash);
        var mine = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var check = _checking.GetOrAdd(key, mine.Task);
        if (check != mine.Task)
        {
            return await check.WaitAsync(cancellationToken);
        }

        try
        {
            var verified = await RunKdfAsync(password, storedHash, cancellationToken);
            if (verified)
            {
                Remember(key);
            }

            mine.SetResult(verified);
            return verified;
        }
        catch (Exception ex)
        {
            mine.SetException(ex);
            _ = mine.Task.Exception; // observed here: waiters, if any, get it too
            throw;
        }
        finally
        {
            _checking.TryRemove(new KeyValuePair<string, Task<bool>>(key, mine.Task));
        }
    }

    private void Remember(string key)
    {
        var now = _time.GetUtcNow();
        if (_recent.Count >= MaxEntries)
        {
            foreach (var (old, until) in _recent)
            {
                if (until <= now)
                {
                    _recent.TryRemove(old, out _);
                }
            }

            if (_recent.Count >= MaxEntries)
            {
                _recent.Clear();
            }
        }

        _recent[key] = now + _options.VerificationCacheLifetime;
    }

    /// <summary>The answer for a name that does not exist: as slow as a KDF run, at no CPU cost.</summary>
    public Task UnknownNameAsync(CancellationToken cancellationToken) => Task.Delay(KdfDuration, cancellationToken); // wall-clock, like the KDF it stands for

    /// <summary>Measure the KDF once at start, so the first unknown name already waits as long as a real check takes.</summary>
    internal void Prepare()
    {
        if (Interlocked.Read(ref _nanosPerThousand) == 0)
        {
            var started = Stopwatch.GetTimestamp();
            PasswordHasher.Verify("unknown", PreparedHash.Value);
            Record(Stopwatch.GetElapsedTime(started), PasswordHasher.DefaultIterations, real: false);
        }
    }

    private static readonly Lazy<string> PreparedHash = new(() => PasswordHasher.Hash(Convert.ToBase64String(RandomNumberGenerator.GetBytes(24))));

    private async Task<bool> RunKdfAsync(string password, string storedHash, CancellationToken cancellationToken)
    {
        // Admission is counted before waiting, so the queue can never grow past its length under a burst.
        if (Interlocked.Increment(ref _admitted) > Math.Max(1, _options.MaxConcurrentKdfRuns) + Math.Max(0, _options.KdfQueueLength))
        {
            Interlocked.Decrement(ref _admitted);
            throw Busy();
        }

        try
        {
            if (!await _slots.WaitAsync(_options.KdfQueueTimeout, cancellationToken))
            {
                throw Busy();
            }

            try
            {
                var running = Interlocked.Increment(ref _running);
                for (var max = Volatile.Read(ref _maxRunning); running > max && Interlocked.CompareExchange(ref _maxRunning, running, max) != max; max = Volatile.Read(ref _maxRunning))
                {
                }

                Interlocked.Increment(ref _kdfRuns);
                var started = Stopwatch.GetTimestamp();
                var result = PasswordHasher.Verify(password, storedHash);
                if (PasswordHasher.IterationsOf(storedHash) is { } iterations)
                {
                    Record(Stopwatch.GetElapsedTime(started), iterations);
                }

                return result;
            }
            finally
            {
                Interlocked.Decrement(ref _running);
                _slots.Release();
            }
        }
        finally
        {
            Interlocked.Decrement(ref _admitted);
        }
    }

    private void Record(TimeSpan elapsed, int iterations, bool real = true)
    {
        var sample = (long)(elapsed.TotalNanoseconds * 1000 / iterations);
        var current = Interlocked.Read(ref _nanosPerThousand);

        // The measurement at start (while the whole module starts) is only a first guess: the first real run replaces it.
        var first = current == 0 || (real && Interlocked.Exchange(ref _realRuns, 1) == 0);
        Interlocked.Exchange(ref _nanosPerThousand, first ? sample : current + ((sample - current) / 4));
    }

    private static Oci.OciException Busy() =>
        LoginRateLimiter.TooManyRequests(TimeSpan.FromSeconds(1), "too many password checks are running; try again");

    private string CacheKey(string name, string password, string storedHash)
    {
        var bytes = Encoding.UTF8.GetBytes(string.Concat(name, "\0", password, "\0", storedHash));
        return Convert.ToBase64String(HMACSHA256.HashData(_cacheKey, bytes));
    }
}
