using ConnectedRegistry.Core;
using ConnectedRegistry.Tls;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.IntegrationTests.Twin;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Tls;

/// <summary>
/// IoT Edge mode: an https:// address and no certificate files make the module ask the workload API (a real
/// Kestrel on a Unix socket, issuing from the test edge CA) for a server certificate for its gateway host
/// name, and renew it at 80% of its lifetime on the injected clock.
/// </summary>
public sealed class HttpsFromWorkloadApiTests : IAsyncLifetime
{
    private static readonly TimeSpan Validity = TimeSpan.FromMinutes(10);

    private readonly ObservedTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private EdgeHarness _edge = null!;

    public async Task InitializeAsync() => _edge = await EdgeHarness.StartAsync();

    public async Task DisposeAsync() => await _edge.DisposeAsync();

    private Task<RegistryInstance> StartAsync() => _edge.StartModuleAsync(
        configure: b => b.Services.AddSingleton<TimeProvider>(_clock),
        extraArgs: ["--urls", "https://127.0.0.1:0", "--tls-validity", "00:10:00", "--tls-retry-delay", "00:00:30"]);

    /// <summary>The workload certificate names the gateway host (localhost here), not the bound IP.</summary>
    private Uri ByName(RegistryInstance module) => new($"https://localhost:{module.BaseAddress.Port}");

    private Task<System.Security.Cryptography.X509Certificates.X509Certificate2> ServedAsync(RegistryInstance module) =>
        TlsClient.ServedCertificateAsync(ByName(module), _edge.Pki.Root);

    [Fact]
    public async Task The_module_serves_an_edge_ca_certificate_for_its_gateway_host_name_and_renews_it_at_80_percent_of_its_lifetime()
    {
        var module = await StartAsync();
        var provider = module.App.Services.GetRequiredService<TlsCertificateProvider>();

        var first = await ServedAsync(module);
        Assert.Equal("CN=localhost", first.Subject);
        Assert.Equal(_edge.Pki.Ca.Subject, first.Issuer);
        Assert.Equal(TlsSource.Workload, provider.Source);
        Assert.Equal(_clock.GetUtcNow() + Validity, provider.Current!.Expires, TimeSpan.FromSeconds(1));
        Assert.Equal(1, _edge.Workload.CertificateRequests);
        Assert.Equal(new LoginServerStatus(module.HostPort, "Enabled"), _edge.State.Snapshot().LoginServer);

        // At 70% of the lifetime nothing is renewed yet: the renewal timer, armed for 80%, is still armed.
        var renewal = TlsCertificateProvider.RenewalTime(provider.Current.ObtainedAt, provider.Current.Expires, 0.8);
        await Poll.UntilAsync(() => _clock.IsArmedAt(renewal), "the renewal timer armed for 80% of the lifetime");
        _clock.Advance(TimeSpan.FromMinutes(7));
        Assert.True(_clock.IsArmedAt(renewal));
        Assert.Equal(1, _edge.Workload.CertificateRequests);
        Assert.Equal(first.Thumbprint, (await ServedAsync(module)).Thumbprint);

        // Past 80% a new certificate is fetched and served on the next connection, without a restart.
        _clock.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1));
        await Poll.UntilAsync(() => provider.Current!.Certificate.Thumbprint != first.Thumbprint, "renewed certificate");
        var second = await ServedAsync(module);
        Assert.NotEqual(first.Thumbprint, second.Thumbprint);
        Assert.Equal("CN=localhost", second.Subject);
        Assert.Equal(2, _edge.Workload.CertificateRequests);
    }

    [Fact]
    public async Task A_failed_renewal_keeps_serving_the_old_certificate_raises_a_status_detail_and_is_retried()
    {
        var module = await StartAsync();
        var provider = module.App.Services.GetRequiredService<TlsCertificateProvider>();
        var first = await ServedAsync(module);

        _edge.Workload.RefuseCertificates = true;
        _clock.Advance(TimeSpan.FromMinutes(8) + TimeSpan.FromSeconds(1));
        await Poll.UntilAsync(() => _edge.State.Snapshot().StatusDetails.Any(d => d.Code == TlsCertificateProvider.RenewalStatusCode), "renewal failure reported");
        var detail = _edge.State.Snapshot().StatusDetails.Single(d => d.Code == TlsCertificateProvider.RenewalStatusCode);
        Assert.Equal("Warning", detail.Type);
        Assert.Contains("certificate issuance refused", detail.Description, StringComparison.Ordinal);
        Assert.Contains("Still serving the certificate", detail.Description, StringComparison.Ordinal);
        Assert.Equal(first.Thumbprint, (await ServedAsync(module)).Thumbprint);

        _edge.Workload.RefuseCertificates = false;
        _clock.Advance(TimeSpan.FromSeconds(30));
        await Poll.UntilAsync(() => provider.Current!.Certificate.Thumbprint != first.Thumbprint, "renewed after the retry delay");
        Assert.NotEqual(first.Thumbprint, (await ServedAsync(module)).Thumbprint);
        Assert.DoesNotContain(_edge.State.Snapshot().StatusDetails, d => d.Code == TlsCertificateProvider.RenewalStatusCode);
    }

    [Fact]
    public async Task A_certificate_from_an_edge_ca_below_the_owner_root_is_served_with_its_chain()
    {
        var intermediate = EdgeHarness.EdgeCa.IssueIntermediate("Test Edge CA below the root");
        await using var edge = await EdgeHarness.StartAsync(workloadIssuer: intermediate);
        var module = await edge.StartModuleAsync(extraArgs: ["--urls", "https://127.0.0.1:0", "--tls-validity", "01:00:00"]);

        var served = await TlsClient.ServedCertificateAsync(ByName(module), EdgeHarness.EdgeCa.Root);

        Assert.Equal("CN=localhost", served.Subject);
        Assert.Equal(intermediate.Ca.Subject, served.Issuer);
    }

    [Fact]
    public async Task A_workload_api_that_refuses_the_first_certificate_stops_the_start_with_a_clear_error()
    {
        _edge.Workload.RefuseCertificates = true;

        var error = await Assert.ThrowsAsync<TlsConfigurationException>(StartAsync);

        Assert.StartsWith(
            "HTTPS (--urls (ASPNETCORE_URLS)): the IoT Edge workload API did not issue a server certificate for 'localhost': The workload API refused server certificate with 403: certificate issuance refused",
            error.Message,
            StringComparison.Ordinal);
    }
}
