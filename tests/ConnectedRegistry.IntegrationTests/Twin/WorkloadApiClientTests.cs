using System.Security.Cryptography.X509Certificates;
using System.Text;
using ConnectedRegistry.Identity;
using ConnectedRegistry.Twin;

namespace ConnectedRegistry.IntegrationTests.Twin;

/// <summary>The workload API client against the Unix-socket workload API.</summary>
public sealed class WorkloadApiClientTests : IAsyncLifetime
{
    private EdgeHarness _edge = null!;

    public async Task InitializeAsync() => _edge = await EdgeHarness.StartAsync();

    public async Task DisposeAsync() => await _edge.DisposeAsync();

    [Fact]
    public async Task It_signs_with_the_module_key_and_returns_the_trust_bundle()
    {
        using var client = new WorkloadApiClient(new Uri(_edge.Workload.Uri), TimeProvider.System);

        var digest = await client.SignAsync(EdgeHarness.ModuleId, EdgeHarness.GenerationId, "audience\n123", CancellationToken.None);
        var bundle = await client.GetTrustBundleAsync(CancellationToken.None);

        Assert.Equal(Convert.ToBase64String(System.Security.Cryptography.HMACSHA256.HashData(_edge.ModuleKey, Encoding.UTF8.GetBytes("audience\n123"))), digest);
        Assert.Equal(_edge.Pki.Ca.Thumbprint, Assert.Single(bundle).Thumbprint);
    }

    [Fact]
    public async Task A_server_certificate_is_issued_by_the_edge_ca_with_its_private_key()
    {
        using var client = new WorkloadApiClient(new Uri(_edge.Workload.Uri), TimeProvider.System);
        var expiration = DateTimeOffset.UtcNow.AddHours(20); // within the test CA's lifetime

        var issued = await client.CreateServerCertificateAsync(EdgeHarness.ModuleId, EdgeHarness.GenerationId, "connectedregistry", expiration, CancellationToken.None);

        Assert.True(issued.Certificate.HasPrivateKey);
        Assert.Equal("CN=connectedregistry", issued.Certificate.Subject);
        Assert.Equal(expiration.ToUnixTimeSeconds(), issued.Expiration.ToUnixTimeSeconds());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_edge.Pki.Ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(issued.Certificate));
    }

    [Fact]
    public async Task A_refusal_names_the_operation_and_status()
    {
        using var client = new WorkloadApiClient(new Uri(_edge.Workload.Uri), TimeProvider.System);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => client.SignAsync("other-module", EdgeHarness.GenerationId, "x", CancellationToken.None));

        Assert.Equal("The workload API refused sign with 404: module not found", error.Message);
    }
}
