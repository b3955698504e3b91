using System.Security.Cryptography.X509Certificates;
using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConnectedRegistry.Tests.Sync;

public sealed class ParentClientSlotTests
{
    private static readonly RegistrySettings WithParent = new()
    {
        Name = "edge-slot-1",
        Parent = new ParentSettings { Endpoint = new Uri("https://parent.example"), SyncTokenName = "line-sync" },
    };

    /// <summary>Holds every caller inside the slot's window (between its look-up and its store) until released.</summary>
    private sealed class GatedTrust(int callers) : IParentTrustSource
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _arrived;

        public async Task<X509Certificate2Collection?> GetRootsAsync(CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _arrived) == callers)
            {
                _release.SetResult();
            }

            await _release.Task.WaitAsync(cancellationToken);
            return null;
        }
    }

    [Fact]
    public async Task Callers_that_ask_at_once_for_the_same_parent_share_one_client_and_none_is_disposed_under_another()
    {
        // A client pushing layers in parallel makes as many on-demand look-ups at once, each asking the slot for the
        // parent's client: the slot made one per caller and disposed each under the caller still using it (a 500 with
        // ObjectDisposedException through the image's first real push).
        const int callers = 8;
        using var slot = new ParentClientSlot(new ParentClientOptions(), TimeProvider.System, NullLogger.Instance, new SyncEnvironment(_ => "secret"), new GatedTrust(callers));
        var clients = await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(() => slot.ClientForAsync(WithParent, CancellationToken.None))));

        var first = Assert.IsType<ParentRegistryClient>(clients[0]);
        Assert.All(clients, c => Assert.Same(first, c));
    }

    [Fact]
    public async Task A_changed_parent_gets_a_new_client()
    {
        using var slot = new ParentClientSlot(new ParentClientOptions(), TimeProvider.System, NullLogger.Instance, new SyncEnvironment(_ => "secret"), null);
        var first = await slot.ClientForAsync(WithParent, CancellationToken.None);
        var again = await slot.ClientForAsync(WithParent, CancellationToken.None);
        var moved = await slot.ClientForAsync(WithParent with { Parent = new ParentSettings { Endpoint = new Uri("https://other.example"), SyncTokenName = "line-sync" } }, CancellationToken.None);
        Assert.Same(first, again);
        Assert.NotSame(first, moved);
    }

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
