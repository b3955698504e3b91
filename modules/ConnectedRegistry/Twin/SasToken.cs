using System.Globalization;
using System.Net;
using ConnectedRegistry.Identity;

namespace ConnectedRegistry.Twin;

/// <summary>A module SAS token and when it stops being valid.</summary>
public sealed record SasToken(string Value, DateTimeOffset ExpiresAt, TimeSpan Ttl)
{
    /// <summary>Renew when 15% or less of the lifetime remains.</summary>
    public DateTimeOffset RenewAt => ExpiresAt - (Ttl * 0.15);

    public override string ToString() => "SharedAccessSignature (redacted)";
}

/// <summary>
/// Builds module SAS tokens as the device SDK does:
/// <c>SharedAccessSignature sr={audience}&amp;sig={urlenc sig}&amp;se={expiry}</c> where audience is the
/// URL-encoded <c>{hub}/devices/{device}/modules/{module}</c> and the signature covers <c>audience + "\n" + se</c>.
/// </summary>
public sealed class SasTokenFactory(string iotHubHostName, string deviceId, string moduleId, ISasSigner signer, TimeProvider time)
{
    public string Audience { get; } = WebUtility.UrlEncode($"{iotHubHostName}/devices/{WebUtility.UrlEncode(deviceId)}/modules/{WebUtility.UrlEncode(moduleId)}");

    public async Task<SasToken> CreateAsync(TimeSpan ttl, CancellationToken cancellationToken)
    {
        var expiresAt = time.GetUtcNow() + ttl;
        var se = expiresAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var signature = await signer.SignAsync(Audience + "\n" + se, cancellationToken);
        var value = $"SharedAccessSignature sr={Audience}&sig={WebUtility.UrlEncode(signature)}&se={se}";
        return new SasToken(value, DateTimeOffset.FromUnixTimeSeconds(long.Parse(se, CultureInfo.InvariantCulture)), ttl);
    }
}
