using System.Security.Cryptography;
using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Twin;

/// <summary><c>bundles.trustedKeys</c>: ECDSA P-256 public keys as PEM or base64 SubjectPublicKeyInfo; anything else is rejected with its reason.</summary>
public class BundlesParserTests
{
    private static DesiredParseResult Parse(JToken keys) =>
        DesiredPropertiesParser.Parse(new JObject { ["name"] = "site-registry", ["bundles"] = new JObject { ["trustedKeys"] = keys } });

    [Fact]
    public void Pem_and_base64_public_keys_of_p256_are_trusted_with_their_id()
    {
        using var a = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var b = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var result = Parse(new JArray(a.ExportSubjectPublicKeyInfoPem(), Convert.ToBase64String(b.ExportSubjectPublicKeyInfo())));

        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        var keys = result.Settings!.Bundles.TrustedKeys;
        Assert.Equal(2, keys.Count);
        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(a.ExportSubjectPublicKeyInfo())), keys[0].Id);
        using var opened = keys[1].Open();
        Assert.Equal(b.ExportSubjectPublicKeyInfo(), opened.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void No_bundles_member_trusts_no_key()
    {
        var result = DesiredPropertiesParser.Parse(new JObject { ["name"] = "site-registry" });
        Assert.Empty(result.Settings!.Bundles.TrustedKeys);
    }

    [Fact]
    public void Every_bad_key_is_rejected_with_its_reason()
    {
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var rsa = RSA.Create(2048);
        using var p256 = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var result = Parse(new JArray(
            "not a key!",
            Convert.ToBase64String(p384.ExportSubjectPublicKeyInfo()),
            rsa.ExportSubjectPublicKeyInfoPem(),
            p256.ExportPkcs8PrivateKeyPem(),
            42));

        Assert.Null(result.Settings);
        Assert.Equal(
        [
            "bundles.trustedKeys[0] is neither a PEM public key nor base64",
            "bundles.trustedKeys[1] is an ECDSA key of 384 bits, not on P-256",
            "bundles.trustedKeys[2] is not an ECDSA SubjectPublicKeyInfo",
            "bundles.trustedKeys[3] is a PEM block but not a PUBLIC KEY (give the public key that 'bundle keygen' wrote, never the private key)",
            "bundles.trustedKeys[4] must be a string",
        ], result.Errors);
    }

    [Fact]
    public void Trusted_keys_must_be_an_array_of_at_most_twenty()
    {
        Assert.Equal(["bundles.trustedKeys must be an array of public keys (PEM or base64 SubjectPublicKeyInfo, ECDSA P-256)"], Parse("key").Errors);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var many = new JArray(Enumerable.Repeat(key.ExportSubjectPublicKeyInfoPem(), BundleSettings.MaxTrustedKeys + 1));
        Assert.Equal([$"bundles.trustedKeys has 21 keys; at most 20 are allowed"], Parse(many).Errors);
    }
}
