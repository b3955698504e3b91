using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;

namespace ConnectedRegistry.Tests.Sync;

/// <summary>The one sync set: own repositories ∪ children's, shared by sync down and the change feed follower.</summary>
public sealed class SyncSetTests
{
    private static readonly RegistrySettings Settings = new()
    {
        Sync = new SyncSettings { Repositories = ["apps/web", " base/* ", "not a name", "apps/web"] },
        Children = new Dictionary<string, ChildRegistrySettings>
        {
            ["line-1"] = new() { SyncTokenPasswordHash = "unused", Repositories = ["tools/probe", "factory/*"] },
        },
    };

    [Fact]
    public void The_set_is_the_registrys_own_patterns_and_every_childs()
    {
        var set = SyncSet.Of(Settings);

        Assert.Equal(["apps/web", "base/*", "tools/probe", "factory/*"], set.Patterns.Select(p => p.Text));
        Assert.True(set.Contains("factory/line/robot"));
        Assert.True(set.Contains("base/alpine"));
        Assert.False(set.Contains("base"));
        Assert.False(set.Contains("other/web"));
    }

    [Fact]
    public async Task Wildcards_are_resolved_through_the_parent_catalog_in_ordinal_order()
    {
        var parent = new Mock<IParentRegistry>(MockBehavior.Strict);
        parent.Setup(p => p.CatalogAsync(It.IsAny<CancellationToken>()))
            .ReturnsAsync(["factory/b", "base/alpine", "factoryx", "other/a", "Bad/Name", "factory/a/deep"]);

        var names = await SyncSet.Of(Settings).ResolveAsync(parent.Object, NullLogger.Instance, CancellationToken.None);

        Assert.Equal(["apps/web", "base/alpine", "factory/a/deep", "factory/b", "tools/probe"], names);
    }

    [Fact]
    public async Task Without_wildcards_the_catalog_is_not_asked_and_when_it_is_refused_exact_names_still_sync()
    {
        var exact = SyncSet.Of(new RegistrySettings { Sync = new SyncSettings { Repositories = ["b/two", "a/one"] } });
        Assert.Equal(["a/one", "b/two"], await exact.ResolveAsync(Mock.Of<IParentRegistry>(MockBehavior.Strict), NullLogger.Instance, CancellationToken.None));

        var parent = new Mock<IParentRegistry>(MockBehavior.Strict);
        parent.Setup(p => p.CatalogAsync(It.IsAny<CancellationToken>()))
            .ThrowsAsync(new ParentRegistryException(HttpStatusCode.Unauthorized, "UNAUTHORIZED", "parent answered 401"));
        Assert.Equal(["apps/web", "tools/probe"], await SyncSet.Of(Settings).ResolveAsync(parent.Object, NullLogger.Instance, CancellationToken.None));
    }
}
