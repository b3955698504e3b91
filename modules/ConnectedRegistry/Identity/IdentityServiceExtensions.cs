namespace ConnectedRegistry.Identity;

public static class IdentityServiceExtensions
{
    /// <summary>
    /// The module's one identity: its environment (<see cref="ModuleEnvironment"/>, the process's; tests register
    /// their own after it) and the <see cref="ModuleIdentitySource"/> that the twin's client, the HTTPS certificate
    /// and sync's trust share.
    /// </summary>
    public static WebApplicationBuilder AddModuleIdentity(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton(ModuleEnvironment.FromProcess());
        builder.Services.AddSingleton<ModuleIdentitySource>();
        return builder;
    }
}
