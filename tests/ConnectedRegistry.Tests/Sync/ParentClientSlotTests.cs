using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConnectedRegistry.Tests.Sync;

public class ParentClientSlotTests
{
    private static RegistrySettings With(params string[] realmHosts) => new()
    {
        Name = "edge-child",
        Parent = new ParentSettings { Endpoint = new Uri("https://parent.example"), TrustedRealmHosts = realmHosts },
    };

    [Fact]
    public async Task The_twins_trusted_realm_hosts_reach_the_client_and_a_change_makes_a_new_one()
    {
        using var slot = new ParentClientSlot(new ParentClientOptions(), TimeProvider.System, NullLogger.Instance, new SyncEnvironment(_ => null), trust: null);

        var first = await slot.ClientForAsync(With("auth.example"), default);
        Assert.Equal(["auth.example"], first!.Options.TrustedRealmHosts);
        Assert.True(first.Auth.RealmIsSafe(new Uri("https://auth.example/token")));
        Assert.False(first.Auth.RealmIsSafe(new Uri("https://other.example/token")));
        Assert.Same(first, await slot.ClientForAsync(With("auth.example"), default));

        var second = await slot.ClientForAsync(With(), default);
        Assert.NotSame(first, second);
        Assert.False(second!.Auth.RealmIsSafe(new Uri("https://auth.example/token")));
        Assert.True(second.Auth.RealmIsSafe(new Uri("https://parent.example:8443/token")));
        Assert.False(second.Auth.RealmIsSafe(new Uri("http://auth.example/token")));
    }
}
