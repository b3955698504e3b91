using ConnectedRegistry.Core;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace ConnectedRegistry.Tls;

/// <summary>
/// Once Kestrel listens, puts the registry's own address into <see cref="ModuleState"/> (reported as
/// <c>loginServer</c>): the HTTPS address when there is one, under the name its certificate was issued for.
/// </summary>
public sealed class LoginServerReporter(IServiceProvider services, TlsCertificateProvider certificates, ModuleState state, IHostApplicationLifetime lifetime) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(Report);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void Report()
    {
        var addresses = services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses;
        var address = addresses?.FirstOrDefault(a => a.StartsWith("https://", StringComparison.OrdinalIgnoreCase)) ?? addresses?.FirstOrDefault();
        if (address is not null && LoginServer.FromAddress(address, certificates.HostName) is { } loginServer)
        {
            state.SetLoginServer(loginServer);
        }
    }
}
