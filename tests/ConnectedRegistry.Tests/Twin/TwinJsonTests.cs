using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Twin;

public sealed class TwinJsonTests
{
    [Fact]
    public void A_number_beyond_the_decimal_range_names_its_member()
    {
        var ex = Assert.Throws<TwinJsonUnreadableException>(() => TwinJson.ParseObject("""{ "sync": { "bandwidth": { "limitMbps": 1e400 } } }"""));

        Assert.Equal(["sync.bandwidth.limitMbps"], ex.Members);
        Assert.Equal("sync.bandwidth.limitMbps: the number is out of range", ex.Message);
    }

    [Fact]
    public void Every_member_with_a_number_out_of_range_is_named()
    {
        var ex = Assert.Throws<TwinJsonUnreadableException>(() => TwinJson.ParseObject("""{ "a": -1e400, "b": [1, 2e300], "c": 0.5 }"""));

        Assert.Equal(["a", "b[1]"], ex.Members);
    }

    [Fact]
    public void A_member_named_twice_is_unreadable_and_named_by_its_path()
    {
        var ex = Assert.Throws<TwinJsonUnreadableException>(() => TwinJson.ParseObject("""
        { "clientTokens": { "t": { "passwordHash": "h" } }, "sync": { "schedule": "a", "schedule": "b" }, "clientTokens": {} }
        """));

        Assert.Equal(["sync.schedule", "clientTokens"], ex.Members);
        Assert.Equal("sync.schedule: the member is named more than once in its object; clientTokens: the member is named more than once in its object", ex.Message);
        Assert.Empty((JObject)ex.Document["clientTokens"]!); // what a JSON reader would have kept: never applied
    }

    [Fact]
    public void The_same_name_in_two_objects_is_not_a_repeat()
    {
        var doc = TwinJson.ParseObject("""{ "a": { "mode": 1 }, "b": { "mode": 2 }, "c": [{ "mode": 3 }, { "mode": 4 }] }""");

        Assert.Equal(4, doc["c"]![1]!["mode"]!.Value<int>());
    }

    [Fact]
    public void Broken_text_is_still_a_reader_error_of_its_own()
    {
        var ex = Assert.Throws<JsonReaderException>(() => TwinJson.ParseObject("""{ "a": 1e400, "b": """));

        Assert.IsNotType<TwinJsonUnreadableException>(ex);
    }

    [Fact]
    public void Fractions_in_range_stay_exact_decimals()
    {
        var doc = TwinJson.ParseObject("""{ "limitMbps": 0.1, "big": 7.9e27 }""");

        Assert.Equal(0.1m, doc["limitMbps"]!.Value<decimal>());
        Assert.Equal(JTokenType.Float, doc["big"]!.Type);
    }
}
