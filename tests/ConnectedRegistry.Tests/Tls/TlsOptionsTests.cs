using ConnectedRegistry.Core;
using ConnectedRegistry.Tls;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.Configuration;

namespace ConnectedRegistry.Tests.Tls;

public class TlsOptionsTests
{
    private static TlsOptions Parse(params (string Key, string Value)[] values) =>
        TlsOptions.FromConfiguration(new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build());

    [Fact]
    public void Defaults_renew_a_30_day_certificate_at_80_percent_and_check_files_every_10_seconds()
    {
        var options = Parse();

        Assert.Null(options.CertificateFile);
        Assert.Null(options.Mode);
        Assert.Equal(TimeSpan.FromDays(30), options.Validity);
        Assert.Equal(0.8, options.RenewAfter);
        Assert.Equal(TimeSpan.FromSeconds(10), options.ReloadInterval);
        Assert.Empty(options.HttpsUrls);
    }

    [Fact]
    public void Only_the_https_addresses_of_urls_are_served_with_tls()
    {
        var options = Parse(("urls", "http://0.0.0.0:8080; https://0.0.0.0:8443;HTTPS://[::]:9443"));

        Assert.Equal(["https://0.0.0.0:8443", "HTTPS://[::]:9443"], options.HttpsUrls);
    }

    [Fact]
    public void Options_come_from_the_command_line_or_the_environment_and_paths_are_made_absolute()
    {
        var options = Parse(("REGISTRY_TLS_CERT", "certs/server.crt"), ("tls-key", "certs/server.key"), ("REGISTRY_TLS", "workload"), ("REGISTRY_TLS_HOSTNAME", "edge-gw.local"));

        Assert.Equal(Path.GetFullPath("certs/server.crt"), options.CertificateFile);
        Assert.Equal(Path.GetFullPath("certs/server.key"), options.KeyFile);
        Assert.Equal("workload", options.Mode);
        Assert.Equal("edge-gw.local", options.HostName);
    }

    [Theory]
    [InlineData("2.00:00:00", 48 * 60)]
    [InlineData("P2D", 48 * 60)]
    [InlineData("PT10M", 10)]
    public void The_validity_is_a_timespan_or_an_iso_8601_duration(string text, int minutes)
    {
        Assert.Equal(TimeSpan.FromMinutes(minutes), Parse(("tls-validity", text)).Validity);
    }

    [Fact]
    public void A_malformed_duration_names_its_option()
    {
        var error = Assert.Throws<StartupException>(() => Parse(("REGISTRY_TLS_VALIDITY", "soon")));

        Assert.Equal("--tls-validity (REGISTRY_TLS_VALIDITY) must be a duration of at least PT1M, such as 30.00:00:00 or P30D, got 'soon'.", error.Message);
    }

    [Fact]
    public void A_validity_under_a_minute_is_refused()
    {
        var error = Assert.Throws<StartupException>(() => Parse(("tls-validity", "00:00:10")));

        Assert.Equal("--tls-validity (REGISTRY_TLS_VALIDITY) must be a duration of at least PT1M, such as 30.00:00:00 or P30D, got '00:00:10'.", error.Message);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1")]
    [InlineData("eighty")]
    public void The_renewal_point_must_be_a_fraction_of_the_lifetime(string text)
    {
        var error = Assert.Throws<StartupException>(() => Parse(("tls-renew-after", text)));

        Assert.StartsWith("--tls-renew-after (REGISTRY_TLS_RENEW_AFTER) must be a fraction", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_certificate_is_renewed_at_the_given_share_of_the_lifetime_left_when_it_was_obtained()
    {
        var obtained = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        Assert.Equal(obtained.AddHours(8), TlsCertificateProvider.RenewalTime(obtained, obtained.AddHours(10), 0.8));
        Assert.Equal(obtained, TlsCertificateProvider.RenewalTime(obtained, obtained.AddHours(-1), 0.8));
    }

    [Theory]
    [InlineData("https://[::]:8443", "edge-gateway.local", "edge-gateway.local:8443", "Enabled")]
    [InlineData("https://0.0.0.0:8443", "edge-gateway.local", "edge-gateway.local:8443", "Enabled")]
    [InlineData("https://10.1.2.3:8443", "edge-gateway.local", "10.1.2.3:8443", "Enabled")]
    [InlineData("http://[::]:8080", null, null, "Disabled")]
    public void The_login_server_of_a_wildcard_bind_is_the_name_the_certificate_was_issued_for(string address, string? certificateName, string? host, string tls)
    {
        var login = LoginServer.FromAddress(address, certificateName);

        Assert.Equal(host ?? Environment.MachineName.ToLowerInvariant() + ":8080", login!.Host);
        Assert.Equal(tls, login.Tls);
    }
}
