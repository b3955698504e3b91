using System.Security.Cryptography;
using System.Text;

namespace ConnectedRegistry.Identity;

/// <summary>Signs a SAS string-to-sign: locally with the module key, or through the IoT Edge workload API.</summary>
public interface ISasSigner
{
    /// <summary>Returns base64(HMAC-SHA256(key, UTF-8 <paramref name="data"/>)).</summary>
    Task<string> SignAsync(string data, CancellationToken cancellationToken);
}

/// <summary>Signs with the connection string's SharedAccessKey. The key never leaves this object.</summary>
public sealed class LocalSasSigner(byte[] key) : ISasSigner
{
    public Task<string> SignAsync(string data, CancellationToken cancellationToken) =>
        Task.FromResult(Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data))));
}
