using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ConnectedRegistry.Auth;

/// <summary>A granted Docker-style scope: <c>repository:NAME:pull,push</c> or <c>registry:catalog:*</c>.</summary>
public sealed record TokenAccess(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("actions")] IReadOnlyList<string> Actions);

public static class TokenUse
{
    public const string Access = "access";
    public const string Refresh = "refresh";
}

/// <summary>
/// The claims of a bearer or refresh token. <see cref="Fingerprint"/> binds the token to the
/// identity's password hash at issue time: rotating the password revokes its tokens.
/// </summary>
public sealed record RegistryTokenClaims
{
    [JsonPropertyName("iss")]
    public string Issuer { get; init; } = RegistryTokenService.Issuer;

    [JsonPropertyName("sub")]
    public string Subject { get; init; } = "";

    [JsonPropertyName("aud")]
    public string Audience { get; init; } = "";

    [JsonPropertyName("iat")]
    public long IssuedAt { get; init; }

    [JsonPropertyName("nbf")]
    public long NotBefore { get; init; }

    [JsonPropertyName("exp")]
    public long Expires { get; init; }

    [JsonPropertyName("jti")]
    public string Id { get; init; } = "";

    /// <summary><see cref="TokenUse.Access"/> or <see cref="TokenUse.Refresh"/>.</summary>
    [JsonPropertyName("use")]
    public string Use { get; init; } = TokenUse.Access;

    /// <summary><see cref="IdentityKind"/> as text.</summary>
    [JsonPropertyName("kind")]
    public string Kind { get; init; } = "";

    [JsonPropertyName("fp")]
    public string Fingerprint { get; init; } = "";

    [JsonPropertyName("access")]
    public IReadOnlyList<TokenAccess> Access { get; init; } = [];
}

/// <summary>
/// Issues and checks compact JWTs signed with HMAC-SHA256 (<c>alg: HS256</c>). Only this registry
/// reads them; clients treat them as opaque.
/// </summary>
public sealed class RegistryTokenService(SigningKey key, TimeProvider time)
{
    public const string Issuer = "edge-connected-registry";

    private static readonly string Header = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["alg"] = "HS256", ["typ"] = "JWT" }));

    /// <summary>Small clock skew tolerated for nbf (the registry checks its own tokens, so exp is exact).</summary>
    private static readonly TimeSpan Leeway = TimeSpan.FromSeconds(30);

    public string Issue(RegistryTokenClaims claims)
    {
        var payload = Base64Url(JsonSerializer.SerializeToUtf8Bytes(claims));
        var signingInput = $"{Header}.{payload}";
        return $"{signingInput}.{Base64Url(Sign(signingInput))}";
    }

    /// <summary>Builds claims valid from now for <paramref name="lifetime"/>.</summary>
    public RegistryTokenClaims NewClaims(string use, string subject, IdentityKind kind, string fingerprint, string audience, TimeSpan lifetime, IReadOnlyList<TokenAccess> access)
    {
        var now = time.GetUtcNow();
        return new RegistryTokenClaims
        {
            Subject = subject,
            Audience = audience,
            IssuedAt = now.ToUnixTimeSeconds(),
            NotBefore = now.ToUnixTimeSeconds(),
            Expires = (now + lifetime).ToUnixTimeSeconds(),
            Id = Base64Url(RandomNumberGenerator.GetBytes(12)),
            Use = use,
            Kind = kind.ToString(),
            Fingerprint = fingerprint,
            Access = access,
        };
    }

    /// <summary>True when the signature is ours, the token is of the wanted use and it is within its validity period.</summary>
    public bool TryValidate(string token, string use, out RegistryTokenClaims claims)
    {
        claims = new RegistryTokenClaims();
        var parts = token.Split('.');
        if (parts.Length != 3 || parts[0] != Header)
        {
            return false;
        }

        byte[] signature;
        byte[] payload;
        try
        {
            signature = FromBase64Url(parts[2]);
            payload = FromBase64Url(parts[1]);
        }
        catch (FormatException)
        {
            return false;
        }

        if (!CryptographicOperations.FixedTimeEquals(signature, Sign($"{parts[0]}.{parts[1]}")))
        {
            return false;
        }

        try
        {
            claims = JsonSerializer.Deserialize<RegistryTokenClaims>(payload) ?? new RegistryTokenClaims();
        }
        catch (JsonException)
        {
            return false;
        }

        var now = time.GetUtcNow();
        return claims.Issuer == Issuer
            && claims.Use == use
            && DateTimeOffset.FromUnixTimeSeconds(claims.NotBefore) <= now + Leeway
            && DateTimeOffset.FromUnixTimeSeconds(claims.Expires) > now;
    }

    /// <summary>A short, non-reversible fingerprint of a password hash (never the hash itself).</summary>
    public static string Fingerprint(string? passwordHash) =>
        passwordHash is null ? "" : Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes(passwordHash)).AsSpan(0, 12).ToArray());

    private byte[] Sign(string signingInput) => HMACSHA256.HashData(key.Key, Encoding.ASCII.GetBytes(signingInput));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        s = (s.Length % 4) switch
        {
            2 => s + "==",
            3 => s + "=",
            0 => s,
            _ => throw new FormatException("bad base64url"),
        };
        return Convert.FromBase64String(s);
    }
}
