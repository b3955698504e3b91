using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;

namespace ConnectedRegistry.Tests.Twin;

/// <summary><c>children</c> in the desired properties: a child registry is judged as <c>token create --sync</c> judges it.</summary>
public class ChildrenParserTests
{
    private static DesiredParseResult Parse(string json) => DesiredPropertiesParser.Parse(TwinJson.ParseObject(json));

    [Fact]
    public void A_read_only_registry_may_only_have_read_only_children()
    {
        var result = Parse("""
        { "mode": "ReadOnly", "children": {
            "cell-one": { "mode": "ReadWrite", "syncTokenPasswordHash": "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=", "repositories": ["a"] },
            "cell-two": { "syncTokenPasswordHash": "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=", "repositories": ["a"] } } }
        """);
        Assert.Equal(["children.cell-one: a ReadOnly registry may only have ReadOnly children"], result.Errors);
    }

    private const string Hash = "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=";

    [Fact]
    public void A_child_is_read_only_unless_it_says_otherwise_and_keeps_each_repository_once()
    {
        var result = Parse($$"""{ "children": { "cell-one": { "syncTokenPasswordHash": "{{Hash}}", "repositories": ["factory/*", "tools", "factory/*"] } } }""");

        Assert.Empty(result.Errors);
        var child = result.Settings!.Children["cell-one"];
        Assert.Equal(RegistryMode.ReadOnly, child.Mode);
        Assert.Equal(Hash, child.SyncTokenPasswordHash);
        Assert.Equal(["factory/*", "tools"], child.Repositories);
    }

    [Fact]
    public void A_child_of_the_wrong_shape_is_reported_for_its_shape_only()
    {
        var result = Parse("""{ "children": { "cell-one": { "syncTokenPasswordHash": 5, "repositories": "factory/*" }, "cell-two": [] } }""");

        Assert.Equal(
        [
            "children.cell-one.syncTokenPasswordHash must be a string",
            "children.cell-one.repositories must be an array of strings",
            "children.cell-two must be an object",
        ], result.Errors);
    }
}
