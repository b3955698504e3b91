using ConnectedRegistry.Core;
using ConnectedRegistry.Events;
using ConnectedRegistry.Twin;

namespace ConnectedRegistry.Tests.Core;

public class NotificationFilterTests
{
    private const string Digest = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

    [Theory]
    [InlineData("hello-world:*:*", "hello-world", "1.0", "push", true)]
    [InlineData("hello-world:*:*", "hello-world", null, "delete", true)]
    [InlineData("hello-world:*:*", "hello-world-2", "1.0", "push", false)]
    [InlineData("hello-world:1.0:push", "hello-world", "1.0", "push", true)]
    [InlineData("hello-world:1.0:push", "hello-world", "1.0", "delete", false)]
    [InlineData("hello-world:1.0:push", "hello-world", "1.1", "push", false)]
    [InlineData("hello-world:1.0:push", "hello-world", null, "push", false)]
    [InlineData("hello-world:1.*:push", "hello-world", "1.2.3", "push", true)]
    [InlineData("hello-world:push", "hello-world", null, "push", true)]
    [InlineData("factory/*:*:push", "factory/line/app", "v1", "push", true)]
    [InlineData("factory/*:*:push", "factoryx/app", "v1", "push", false)]
    [InlineData("*:*", "any/repo", "x", "delete", true)]
    [InlineData("*:*:delete", "any/repo", "x", "push", false)]
    [InlineData("hello-world@sha256:4f53*:delete", "hello-world", null, "delete", true)]
    [InlineData("hello-world@sha256:0000*:delete", "hello-world", null, "delete", false)]
    public void Patterns_select_artifact_events(string pattern, string repository, string? tag, string action, bool expected)
    {
        var filter = NotificationFilter.From([pattern]);
        Assert.Equal(expected, filter.Matches(repository, tag, Digest, action));
    }

    [Fact]
    public void An_empty_list_selects_nothing_and_any_pattern_of_several_selects()
    {
        Assert.False(NotificationFilter.From([]).Matches("a", "b", Digest, "push"));
        var filter = NotificationFilter.From(["a:1:push", "b:*:delete"]);
        Assert.True(filter.Matches("b", "9", null, "delete"));
        Assert.True(filter.Matches("a", "1", null, "push"));
        Assert.False(filter.Matches("a", "1", null, "delete"));
    }

    [Theory]
    [InlineData("hello-world", "must be 'repository[:tag]:action' or 'repository@digest:action'")]
    [InlineData("hello-world:1.0:pull", "must end with the action push, delete or *")]
    [InlineData("Hello:1.0:push", "has a repository part that is not a repository name (lower-case letters, digits, '/', '.', '_', '-', * allowed)")]
    [InlineData("hello:1 0:push", "has a tag part that is not a tag (letters, digits, '_', '.', '-', * allowed; at most 128)")]
    [InlineData("hello@:push", "has a digest part that is not a digest (algorithm:hex, * allowed)")]
    [InlineData(":push", "must be 'repository[:tag]:action' or 'repository@digest:action'")]
    public void Bad_patterns_are_explained(string pattern, string reason) => Assert.Equal(reason, NotificationFilter.Validate(pattern));

    [Fact]
    public void The_twin_member_notifications_is_validated_with_every_reason()
    {
        var ok = DesiredPropertiesParser.Parse(TwinJson.ParseObject("""{ "notifications": ["factory/*:*:push", "factory/*:*:push", "hello:delete"] }"""));
        Assert.True(ok.IsValid);
        Assert.Equal(["factory/*:*:push", "hello:delete"], ok.Settings!.Notifications);

        var bad = DesiredPropertiesParser.Parse(TwinJson.ParseObject("""{ "notifications": ["x:pull", 5], "storage": { "minFreeBytes": -1 } }"""));
        Assert.False(bad.IsValid);
        Assert.Equal(
            [
                "notifications[0] 'x:pull' must end with the action push, delete or *",
                "notifications[1] '5' must be a string",
                "storage.minFreeBytes '-1' must be a whole number of bytes of at least 0",
            ],
            bad.Errors);

        Assert.Equal(["notifications must be an array of 'repository[:tag]:action' patterns"], DesiredPropertiesParser.Parse(TwinJson.ParseObject("""{ "notifications": "x:push" }""")).Errors);
    }

    [Fact]
    public void Storage_min_free_bytes_defaults_to_the_smaller_of_1_GiB_and_5_percent()
    {
        Assert.Null(DesiredPropertiesParser.Parse(TwinJson.ParseObject("{}")).Settings!.Storage.MinFreeBytes);
        Assert.Equal(8_388_608, DesiredPropertiesParser.Parse(TwinJson.ParseObject("""{ "storage": { "minFreeBytes": 8388608 } }""")).Settings!.Storage.MinFreeBytes);
        Assert.Equal(["storage.minFreeBytes '1.5' must be a whole number of bytes of at least 0"], DesiredPropertiesParser.Parse(TwinJson.ParseObject("""{ "storage": { "minFreeBytes": 1.5 } }""")).Errors);
        Assert.Equal(2L * 1024 * 1024, ConnectedRegistry.Storage.FreeSpaceGuard.DefaultMinFreeBytes(40L * 1024 * 1024));
        Assert.Equal(1L << 30, ConnectedRegistry.Storage.FreeSpaceGuard.DefaultMinFreeBytes(1L << 40));
    }

    [Fact]
    public void The_output_topic_carries_the_system_and_application_properties_url_encoded()
    {
        var message = EventQueue.ToMessage(new RegistryEvent(EventTypes.ArtifactPushed, DateTimeOffset.UnixEpoch) { Id = "m1", Repository = "factory/a b" }, "edge-1");
        var topic = IotHubTopics.OutputMessage("dev 1", "ConnectedRegistry", message);
        Assert.Equal("devices/dev%201/modules/ConnectedRegistry/messages/events/%24.mid=m1&%24.ct=application%2Fjson&%24.ce=utf-8&%24.on=events&type=ArtifactPushed&repository=factory%2Fa%20b", topic);
        var properties = IotHubTopics.TryParseOutputMessage(topic)!;
        Assert.Equal("events", properties["$.on"]);
        Assert.Equal("factory/a b", properties["repository"]);
        Assert.Equal("""{"id":"m1","type":"ArtifactPushed","time":"1970-01-01T00:00:00.000Z","registry":"edge-1","repository":"factory/a b"}""", System.Text.Encoding.UTF8.GetString(message.Body));
    }
}
