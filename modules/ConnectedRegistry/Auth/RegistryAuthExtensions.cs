using ConnectedRegistry.Core;

namespace ConnectedRegistry.Auth;

/// <summary>Registers access control: <c>builder.AddRegistryAuth()</c>, then <c>app.UseRegistryAuth()</c> after the OCI error middleware.</summary>
public static class RegistryAuthExtensions
{
    public static WebApplicationBuilder AddRegistryAuth(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton(AuthOptions.FromConfiguration(builder.Configuration));
        services.AddSingleton(sp => new SigningKey(sp.GetRequiredService<RegistryOptions>()));
        services.AddSingleton<RegistryTokenService>();
        services.AddSingleton<CredentialVerifier>();
        services.AddSingleton<LoginRateLimiter>();
        services.AddSingleton<AuthPolicyProvider>();
        services.AddSingleton<RegistryAuthenticator>();
        services.AddHostedService<AuthStatusLogger>();
        return builder;
    }

    /// <summary>Adds the authentication middleware for /v2 and maps the token endpoint.</summary>
    public static WebApplication UseRegistryAuth(this WebApplication app)
    {
        _ = app.Services.GetRequiredService<SigningKey>(); // create or load the key at start, not on the first request
        app.UseMiddleware<RegistryAuthMiddleware>();
        app.MapTokenEndpoint();
        return app;
    }
}

/// <summary>Says at start-up, and whenever the settings change it, whether the registry is open.</summary>
public sealed partial class AuthStatusLogger(IRegistrySettingsSource settings, CredentialVerifier verifier, ILogger<AuthStatusLogger> logger) : IHostedService
{
    private readonly Lock _gate = new();
    private bool? _enabled;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        settings.Changed += OnChanged;
        Report(settings.Current);
        _ = Task.Run(verifier.Prepare, CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        settings.Changed -= OnChanged;
        return Task.CompletedTask;
    }

    private void OnChanged(RegistrySettings current) => Report(current);

    private void Report(RegistrySettings current)
    {
        var enabled = current.ClientTokens.Count > 0 || current.Children.Count > 0;
        lock (_gate)
        {
            if (_enabled == enabled)
            {
                return;
            }

            _enabled = enabled;
        }

        if (enabled)
        {
            Log.Enabled(logger, current.ClientTokens.Count, current.Children.Count, current.AnonymousPull);
        }
        else
        {
            Log.Open(logger);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 520, Level = LogLevel.Warning, Message = "Authentication is OFF: the twin defines no client token and no child, so anyone who can reach this registry may pull and push. Create a token with the 'token create' command and add it under clientTokens.")]
        public static partial void Open(ILogger logger);

        [LoggerMessage(EventId = 521, Level = LogLevel.Information, Message = "Authentication is on: {Tokens} client token(s), {Children} child registr(ies), anonymous pull {AnonymousPull}")]
        public static partial void Enabled(ILogger logger, int tokens, int children, bool anonymousPull);
    }
}
