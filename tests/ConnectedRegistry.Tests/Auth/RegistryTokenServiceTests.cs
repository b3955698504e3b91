using System.Globalization;
using ConnectedRegistry.Auth;
using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.Tests.Auth;

public class RegistryTokenServiceTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-03-01T12:00:00Z", CultureInfo.InvariantCulture));
    private readonly RegistryTokenService _service;

    public RegistryTokenServiceTests() => _service = new RegistryTokenService(new SigningKey(new byte[32]), _time);

    private RegistryTokenClaims Claims(string use = TokenUse.Access) =>
        _service.NewClaims(use, "puller", IdentityKind.ClientToken, "fp", "registry:5000", TimeSpan.FromMinutes(5), [new TokenAccess("repository", "app", ["pull"])]);

    [Fact]
    public void Issued_token_is_a_three_part_jwt_that_validates_with_its_claims()
    {
        var token = _service.Issue(Claims());
        Assert.Equal(3, token.Split('.').Length);
        Assert.True(_service.TryValidate(token, TokenUse.Access, out var claims));
        Assert.Equal("puller", claims.Subject);
        Assert.Equal("ClientToken", claims.Kind);
        Assert.Equal("registry:5000", claims.Audience);
        Assert.Equal(["pull"], Assert.Single(claims.Access).Actions);
    }

    [Fact]
    public void Token_expires_after_its_lifetime()
    {
        var token = _service.Issue(Claims());
        _time.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromSeconds(1));
        Assert.True(_service.TryValidate(token, TokenUse.Access, out _));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(_service.TryValidate(token, TokenUse.Access, out _));
    }

    [Fact]
    public void Tampered_payload_or_signature_is_refused()
    {
        var token = _service.Issue(Claims());
        var parts = token.Split('.');
        var other = _service.Issue(_service.NewClaims(TokenUse.Access, "admin", IdentityKind.ClientToken, "fp", "x", TimeSpan.FromMinutes(5), [new TokenAccess("repository", "app", ["*"])]));
        Assert.False(_service.TryValidate($"{parts[0]}.{other.Split('.')[1]}.{parts[2]}", TokenUse.Access, out _));
        Assert.False(_service.TryValidate($"{parts[0]}.{parts[1]}.{parts[2][..^2]}AA", TokenUse.Access, out _));
        Assert.False(_service.TryValidate($"{parts[0]}.{parts[1]}.", TokenUse.Access, out _));
        Assert.False(_service.TryValidate("not-a-token", TokenUse.Access, out _));
    }

    [Fact]
    public void Token_signed_with_another_key_is_refused()
    {
        var key = new byte[32];
        key[0] = 1;
        var foreign = new RegistryTokenService(new SigningKey(key), _time).Issue(Claims());
        Assert.False(_service.TryValidate(foreign, TokenUse.Access, out _));
    }

    [Fact]
    public void Refresh_token_is_not_an_access_token_and_vice_versa()
    {
        var refresh = _service.Issue(Claims(TokenUse.Refresh));
        var access = _service.Issue(Claims());
        Assert.False(_service.TryValidate(refresh, TokenUse.Access, out _));
        Assert.False(_service.TryValidate(access, TokenUse.Refresh, out _));
        Assert.True(_service.TryValidate(refresh, TokenUse.Refresh, out _));
    }

    [Fact]
    public void Fingerprint_changes_with_the_password_hash_and_does_not_reveal_it()
    {
        var a = PasswordHasher.Hash("one");
        var b = PasswordHasher.Hash("two");
        Assert.NotEqual(RegistryTokenService.Fingerprint(a), RegistryTokenService.Fingerprint(b));
        Assert.DoesNotContain(RegistryTokenService.Fingerprint(a), a, StringComparison.Ordinal);
    }

    [Fact]
    public void Signing_key_is_created_owner_only_and_reused()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"ecr-key-{Guid.NewGuid():N}");
        try
        {
            var path = Path.Combine(dir, "auth", "token-signing.key");
            var first = SigningKey.LoadOrCreate(path);
            var second = SigningKey.LoadOrCreate(path);
            Assert.Equal(32, first.Length);
            Assert.Equal(first, second);
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            }

            Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
