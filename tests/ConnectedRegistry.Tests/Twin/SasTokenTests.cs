using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using ConnectedRegistry.Identity;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.Tests.Twin;

public class SasTokenTests
{
    private static readonly byte[] Key = Encoding.UTF8.GetBytes("a module key of thirty-two bytes");

    [Fact]
    public async Task The_token_is_built_as_the_device_sdk_builds_it()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));
        var factory = new SasTokenFactory("hub.example.net", "device 1", "connected/registry", new LocalSasSigner(Key), time);

        var token = await factory.CreateAsync(TimeSpan.FromHours(1), CancellationToken.None);

        var expectedExpiry = time.GetUtcNow().AddHours(1).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        const string audience = "hub.example.net%2Fdevices%2Fdevice%2B1%2Fmodules%2Fconnected%252Fregistry";
        Assert.Equal(audience, factory.Audience);
        var signature = Convert.ToBase64String(HMACSHA256.HashData(Key, Encoding.UTF8.GetBytes(audience + "\n" + expectedExpiry)));
        Assert.Equal($"SharedAccessSignature sr={audience}&sig={WebUtility.UrlEncode(signature)}&se={expectedExpiry}", token.Value);
        Assert.DoesNotContain("skn=", token.Value, StringComparison.Ordinal);
        Assert.Equal(time.GetUtcNow().AddHours(1), token.ExpiresAt);
    }

    [Fact]
    public async Task A_token_is_renewed_when_fifteen_percent_of_its_lifetime_remains()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 2, 3, 0, 0, TimeSpan.Zero));
        var factory = new SasTokenFactory("hub", "d", "m", new LocalSasSigner(Key), time);

        var token = await factory.CreateAsync(TimeSpan.FromSeconds(1000), CancellationToken.None);

        Assert.Equal(token.ExpiresAt - TimeSpan.FromSeconds(150), token.RenewAt);
        Assert.DoesNotContain("sig", token.ToString(), StringComparison.Ordinal);
    }
}
