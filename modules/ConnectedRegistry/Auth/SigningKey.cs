using System.Security.Cryptography;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Auth;

/// <summary>
/// The HMAC-SHA256 key that signs this registry's bearer tokens: 32 random bytes, generated once and
/// kept in the data root (<c>auth/token-signing.key</c>, owner read/write only), so tokens survive a
/// restart. Deleting the file revokes every issued token at the next start.
/// </summary>
public sealed class SigningKey
{
    public const string RelativePath = "auth/token-signing.key";
    private const int KeyBytes = 32;

    public SigningKey(byte[] key) => Key = key;

    public SigningKey(RegistryOptions options)
        : this(LoadOrCreate(Path.Combine(options.DataRoot, RelativePath)))
    {
    }

    internal byte[] Key { get; }

    public static byte[] LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            return ReadKey(path);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        var key = RandomNumberGenerator.GetBytes(KeyBytes);
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temp, fileOptions))
        {
            stream.Write(key);
            stream.Flush(flushToDisk: true);
        }

        try
        {
            File.Move(temp, path, overwrite: false);
            return key;
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process created it first: use theirs.
            File.Delete(temp);
            return ReadKey(path);
        }
    }

    private static byte[] ReadKey(string path)
    {
        var key = File.ReadAllBytes(path);
        if (key.Length < KeyBytes)
        {
            throw new StartupException($"{Storage.DataRootCheck.Option}: the token signing key '{path}' is damaged ({key.Length} bytes, {KeyBytes} expected); delete it to generate a new one (issued tokens become invalid).");
        }

        return key;
    }
}
