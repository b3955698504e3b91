using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace ConnectedRegistry.Auth;

/// <summary>
/// Checks a name and password against a stored hash, remembering successful checks for a short while
/// so that a pull of many blobs with Basic credentials runs the slow KDF once, not once per request.
/// The cache key is a SHA-256 of (name, password, stored hash): it holds no password, and a changed
/// hash in the twin can never match an old entry. Failures are never cached.
/// </summary>
public sealed class CredentialVerifier(TimeProvider time, AuthOptions options)
{
    private const int MaxEntries = 4096;

    // A well-formed hash of a random password, verified when the name is unknown so that unknown and
    // known names cost the same time.
    private static readonly Lazy<string> DummyHash = new(() => PasswordHasher.Hash(Convert.ToBase64String(RandomNumberGenerator.GetBytes(24))));

    private readonly ConcurrentDictionary<string, DateTimeOffset> _recent = new(StringComparer.Ordinal);
    private long _kdfRuns;

    /// <summary>How many times the slow KDF ran (for tests and diagnostics).</summary>
    internal long KdfRuns => Interlocked.Read(ref _kdfRuns);

    /// <summary>Verify <paramref name="password"/> for <paramref name="name"/>; <paramref name="storedHash"/> null means "no such identity".</summary>
    public bool Verify(string name, string password, string? storedHash)
    {
        if (storedHash is null)
        {
            Interlocked.Increment(ref _kdfRuns);
            PasswordHasher.Verify(password, DummyHash.Value);
            return false;
        }

        var key = CacheKey(name, password, storedHash);
        var now = time.GetUtcNow();
        if (_recent.TryGetValue(key, out var until) && until > now)
        {
            return true;
        }

        Interlocked.Increment(ref _kdfRuns);
        if (!PasswordHasher.Verify(password, storedHash))
        {
            _recent.TryRemove(key, out _);
            return false;
        }

        if (_recent.Count >= MaxEntries)
        {
            _recent.Clear();
        }

        _recent[key] = now + options.VerificationCacheLifetime;
        return true;
    }

    /// <summary>Warm the dummy hash so the first unknown-name login is not slower than the others.</summary>
    internal static void Prepare() => _ = DummyHash.Value;

    private static string CacheKey(string name, string password, string storedHash)
    {
        var bytes = Encoding.UTF8.GetBytes(string.Concat(name, "\0", password, "\0", storedHash));
        return Convert.ToBase64String(SHA256.HashData(bytes));
    }
}
