using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Twin;

public class JsonMergePatchTests
{
    private static JObject J(string json) => TwinJson.ParseObject(json);

    [Fact]
    public void A_patch_merges_nested_objects_and_null_deletes()
    {
        var merged = JsonMergePatch.Apply(
            J("""{ "a": 1, "sync": { "window": "PT3H", "schedule": "* * * * *" }, "list": [1, 2] }"""),
            J("""{ "a": null, "sync": { "window": null, "messageTtl": "P3D" }, "list": [3], "b": { "x": null, "y": 2 } }"""));

        Assert.True(JToken.DeepEquals(J("""{ "sync": { "schedule": "* * * * *", "messageTtl": "P3D" }, "list": [3], "b": { "y": 2 } }"""), merged));
    }

    [Fact]
    public void The_diff_of_two_documents_is_the_patch_between_them()
    {
        var from = J("""{ "keep": 1, "gone": 2, "nested": { "same": true, "changed": "a", "removed": 1 }, "arr": [1] }""");
        var to = J("""{ "keep": 1, "nested": { "same": true, "changed": "b" }, "arr": [1, 2], "new": { "x": 1 } }""");

        var patch = JsonMergePatch.Diff(from, to);

        Assert.True(JToken.DeepEquals(J("""{ "nested": { "changed": "b", "removed": null }, "arr": [1, 2], "new": { "x": 1 }, "gone": null }"""), patch));
        Assert.True(JToken.DeepEquals(to, JsonMergePatch.Apply(from, patch)));
    }

    [Fact]
    public void Equal_documents_and_null_versus_missing_give_an_empty_diff()
    {
        Assert.Empty(JsonMergePatch.Diff(J("""{ "a": { "b": 1 } }"""), J("""{ "a": { "b": 1 }, "c": null }""")));
        Assert.Empty(JsonMergePatch.Diff(J("""{ "a": null }"""), J("{}")));
    }

    [Fact]
    public void Service_members_are_dropped_at_every_depth()
    {
        var clean = JsonMergePatch.WithoutMetadata(J("""{ "$version": 4, "$metadata": {}, "a": { "$lastUpdated": "x", "b": 1 } }"""));
        Assert.True(JToken.DeepEquals(J("""{ "a": { "b": 1 } }"""), clean));
        Assert.Equal(4, JsonMergePatch.Version(J("""{ "$version": 4 }""")));
        Assert.Null(JsonMergePatch.Version(J("{}")));
    }
}
