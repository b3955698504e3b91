using ConnectedRegistry.Core;

namespace ConnectedRegistry.Tls;

public static class TlsServiceCollectionExtensions
{
    /// <summary>
    /// HTTPS on the https:// addresses of <c>--urls</c> with the certificate of <see cref="TlsCertificateProvider"/>
    /// (files or the IoT Edge workload API), picked per connection so a renewed certificate is served without a restart.
    /// Reports the login server (<see cref="LoginServerReporter"/>) once Kestrel listens.
    /// Needs <see cref="ModuleState"/>, <see cref="TimeProvider"/> and the module identity's <c>ModuleIdentitySource</c> registered.
    /// </summary>
    public static WebApplicationBuilder AddRegistryTls(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton(TlsOptions.FromConfiguration(builder.Configuration));
        builder.Services.AddSingleton<TlsCertificateProvider>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TlsCertificateProvider>());
        builder.Services.AddHostedService<LoginServerReporter>();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureHttpsDefaults(https =>
        {
            var provider = kestrel.ApplicationServices.GetRequiredService<TlsCertificateProvider>();
            if (provider.Source != TlsSource.None)
            {
                https.ServerCertificateSelector = provider.Select;
                https.OnAuthenticate = provider.OnAuthenticate;
            }
        }));
        return builder;
    }
}
