using ConnectedRegistry.Twin;

namespace ConnectedRegistry.Tests.Twin;

public class IotHubTopicsTests
{
    [Fact]
    public void Twin_responses_carry_status_request_id_and_version()
    {
        Assert.True(IotHubTopics.TryParseTwinResponse("$iothub/twin/res/204/?$rid=17&$version=42", out var status, out var rid, out var version));
        Assert.Equal((204, "17", 42L), (status, rid, version!.Value));

        Assert.True(IotHubTopics.TryParseTwinResponse(IotHubTopics.TwinResponse(200, "3"), out status, out rid, out version));
        Assert.Equal((200, "3", (long?)null), (status, rid, version));

        Assert.False(IotHubTopics.TryParseTwinResponse("$iothub/twin/res/abc/?$rid=1", out _, out _, out _));
        Assert.False(IotHubTopics.TryParseTwinResponse("$iothub/twin/res/200/?x=1", out _, out _, out _));
    }

    [Fact]
    public void Desired_patches_and_method_requests_are_recognised()
    {
        Assert.True(IotHubTopics.TryParseDesiredPatch("$iothub/twin/PATCH/properties/desired/?$version=9", out var version));
        Assert.Equal(9, version);

        Assert.True(IotHubTopics.TryParseMethodRequest("$iothub/methods/POST/getStatus/?$rid=ab1", out var name, out var rid));
        Assert.Equal(("getStatus", "ab1"), (name, rid));
        Assert.False(IotHubTopics.TryParseMethodRequest("$iothub/methods/POST/getStatus", out _, out _));
    }

    [Fact]
    public void Request_topics_follow_the_iot_hub_layout()
    {
        Assert.Equal("$iothub/twin/GET/?$rid=5", IotHubTopics.TwinGet("5"));
        Assert.Equal("$iothub/twin/PATCH/properties/reported/?$rid=6", IotHubTopics.ReportedPatch("6"));
        Assert.Equal("$iothub/methods/res/404/?$rid=7", IotHubTopics.MethodResponse(404, "7"));
    }
}
