using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace ConnectedRegistry.Auth;

/// <summary>
/// Checks a name and password against a stored hash, remembering successful checks for a short while
/// so that a pull of many blobs with Basic credentials runs the slow KDF once, not once per request.
/// The cache key is a SHA-256 of (name, password, stored hash): it holds no password, and a changed
/// hash in the twin can never match an old entry. Failures are never cached.
/// <para>
/// The KDF runs behind one gate for the whole process: at most <see cref="AuthOptions.MaxConcurrentKdfRuns"/>
/// at a time, <see cref="AuthOptions.KdfQueueLength"/> more waiting up to <see cref="AuthOptions.KdfQueueTimeout"/>;
/// anything past that is answered 429 at once, so a flood of bad logins from many addresses cannot take every
/// core. A remembered credential never waits at the gate.
/// </para>
/// </summary>
public sealed class CredentialVerifier
{
    private const int MaxEntries = 4096;

    // A well-formed hash of a random password, verified when the name is unknown so that unknown and
    // known names cost the same time.
    private static readonly Lazy<string> DummyHash = new(() => PasswordHasher.Hash(Convert.ToBase64String(RandomNumberGenerator.GetBytes(24))));

    private readonly TimeProvider _time;
    private readonly AuthOptions _options;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _recent = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _slots;
    private long _kdfRuns;
    private int _admitted;
    private int _running;
    private int _maxRunning;

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

    /// <summary>
    /// Verify <paramref name="password"/> for <paramref name="name"/>; <paramref name="storedHash"/> null means "no such identity".
    /// With <paramref name="rememberedOnly"/> only a recent successful check counts and the KDF never runs.
    /// Throws the 429 <see cref="Oci.OciException"/> when the KDF gate and its queue are full.
    /// </summary>
    public bool Verify(string name, string password, string? storedHash, bool rememberedOnly = false)
    {
        if (storedHash is null)
        {
            if (!rememberedOnly)
            {
                RunKdf(() => PasswordHasher.Verify(password, DummyHash.Value));
            }

            return false;
        }

        var key = CacheKey(name, password, storedHash);
        var now = _time.GetUtcNow();
        if (_recent.TryGetValue(key, out var until) && until > now)
        {
            return true;
        }

        if (rememberedOnly)
        {
            return false;
        }

        if (!RunKdf(() => PasswordHasher.Verify(password, storedHash)))
        {
            _recent.TryRemove(key, out _);
            return false;
        }

        if (_recent.Count >= MaxEntries)
        {
            _recent.Clear();
        }

        _recent[key] = _time.GetUtcNow() + _options.VerificationCacheLifetime;
        return true;
    }

    /// <summary>Warm the dummy hash so the first unknown-name login is not slower than the others.</summary>
    internal static void Prepare() => _ = DummyHash.Value;

    private bool RunKdf(Func<bool> kdf)
    {
        // Admission is counted before waiting, so the queue can never grow past its length under a burst.
        if (Interlocked.Increment(ref _admitted) > Math.Max(1, _options.MaxConcurrentKdfRuns) + Math.Max(0, _options.KdfQueueLength))
        {
            Interlocked.Decrement(ref _admitted);
            throw Busy();
        }

        try
        {
            if (!_slots.Wait(_options.KdfQueueTimeout))
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
                return kdf();
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

    private static Oci.OciException Busy() =>
        LoginRateLimiter.TooManyRequests(TimeSpan.FromSeconds(1), "too many password checks are running; try again");

    private static string CacheKey(string name, string password, string storedHash)
    {
        var bytes = Encoding.UTF8.GetBytes(string.Concat(name, "\0", password, "\0", storedHash));
        return Convert.ToBase64String(SHA256.HashData(bytes));
    }
}
