using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace ConnectedRegistry.Auth;

/// <summary>
/// Password hashes for client tokens and child sync tokens: PBKDF2-HMAC-SHA256, 16-byte random salt,
/// 32-byte hash, in the self-describing form <c>pbkdf2-sha256$ITERATIONS$SALT$HASH</c> (salt and hash
/// in standard base64). The iteration count travels with the hash, so it can be raised later without
/// breaking existing tokens. Comparison is constant-time.
/// </summary>
public static class PasswordHasher
{
    public const string Scheme = "pbkdf2-sha256";
    public const int DefaultIterations = 210_000;
    public const int MinIterations = 100_000;

    /// <summary>Upper bound accepted when verifying, so that a malformed hash cannot pin a core for minutes.</summary>
    public const int MaxIterations = 10_000_000;

    private const int SaltBytes = 16;
    private const int HashBytes = 32;

    public static string Hash(string password, int iterations = DefaultIterations)
    {
        ArgumentNullException.ThrowIfNull(password);
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, MinIterations);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(iterations, MaxIterations);
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Derive(password, salt, iterations, HashBytes);
        return string.Create(CultureInfo.InvariantCulture, $"{Scheme}${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}");
    }

    /// <summary>True when <paramref name="storedHash"/> is well formed (scheme, iteration bounds, base64 parts).</summary>
    public static bool IsWellFormed([NotNullWhen(true)] string? storedHash) => TryParse(storedHash, out _, out _, out _);

    /// <summary>The iteration count of a well-formed hash, else null.</summary>
    public static int? IterationsOf(string? storedHash) => TryParse(storedHash, out var iterations, out _, out _) ? iterations : null;

    /// <summary>Runs the KDF; false for a wrong password or a malformed hash. Never throws for bad input.</summary>
    public static bool Verify(string password, string? storedHash)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (!TryParse(storedHash, out var iterations, out var salt, out var expected))
        {
            return false;
        }

        var actual = Derive(password, salt, iterations, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    private static byte[] Derive(string password, byte[] salt, int iterations, int length) =>
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, length);

    private static bool TryParse(string? stored, out int iterations, out byte[] salt, out byte[] hash)
    {
        iterations = 0;
        salt = [];
        hash = [];
        if (string.IsNullOrEmpty(stored))
        {
            return false;
        }

        var parts = stored.Split('$');
        if (parts.Length != 4 || parts[0] != Scheme)
        {
            return false;
        }

        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out iterations)
            || iterations < MinIterations || iterations > MaxIterations)
        {
            return false;
        }

        try
        {
            salt = Convert.FromBase64String(parts[2]);
            hash = Convert.FromBase64String(parts[3]);
        }
        catch (FormatException)
        {
            return false;
        }

        return salt.Length >= 8 && hash.Length >= 16 && hash.Length <= 64;
    }
}
