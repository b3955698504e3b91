using ConnectedRegistry.Auth;
using ConnectedRegistry.Distribution;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Twin;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Oci;

/// <summary>
/// Every input with a grammar must end where its text ends: .NET's <c>$</c> also matches before a final
/// <c>\n</c>, so each valid value is tried again with a line terminator or NUL appended, and must be refused.
/// </summary>
public class EndOfInputSweepTests
{
    private const string Hash = "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=";

    public static TheoryData<string> Endings => ["\n", "\r", "\r\n", "\0", "\u2028", "\u2029", "\u0085"];

    [Theory]
    [MemberData(nameof(Endings))]
    public void Repository_names_tags_digests_and_references_refuse_a_trailing_terminator(string end)
    {
        var digest = "sha256:" + new string('a', 64);
        Assert.True(RepositoryName.IsValid("teama/app"));
        Assert.False(RepositoryName.IsValid("teama/app" + end));
        Assert.True(Tag.IsValid("v2"));
        Assert.False(Tag.IsValid("v2" + end));
        Assert.False(Tag.IsValid(new string('a', 128) + end), "a 129-character tag must not slip in");
        Assert.False(Digest.TryParse(digest + end, out _));
        Assert.False(Reference.TryParse("v2" + end, out _));
        Assert.False(Reference.TryParse(digest + end, out _));
    }

    [Theory]
    [MemberData(nameof(Endings))]
    public void Repository_patterns_refuse_a_trailing_terminator(string end)
    {
        foreach (var pattern in new[] { "teama/app", "teama/*", "*" })
        {
            Assert.True(RepositoryPattern.TryParse(pattern, out _));
            Assert.False(RepositoryPattern.TryParse(pattern + end, out _), pattern);
        }
    }

    [Theory]
    [MemberData(nameof(Endings))]
    public void Token_and_registry_names_refuse_a_trailing_terminator(string end)
    {
        Assert.True(AuthRules.IsValidTokenName("line-puller"));
        Assert.False(AuthRules.IsValidTokenName("line-puller" + end));
        Assert.True(AuthRules.IsValidRegistryName("factory-line-1"));
        Assert.False(AuthRules.IsValidRegistryName("factory-line-1" + end));
    }

    [Theory]
    [MemberData(nameof(Endings))]
    public void Distribution_paths_refuse_a_trailing_terminator(string end)
    {
        Assert.Equal(OciResource.Tags, OciRoute.Parse("teama/app/tags/list")!.Resource);
        Assert.Null(OciRoute.Parse("teama/app/tags/list" + end));
        Assert.Equal(OciResource.UploadStart, OciRoute.Parse("teama/app/blobs/uploads/")!.Resource);
        Assert.NotEqual(OciResource.UploadStart, OciRoute.Parse("teama/app/blobs/uploads/" + end)?.Resource);

        // The reference keeps its terminator, so the tag grammar refuses it.
        Assert.Equal("v2" + end, OciRoute.Parse("teama/app/manifests/v2" + end)!.Reference);
    }

    [Theory]
    [MemberData(nameof(Endings))]
    public void Every_twin_member_with_a_grammar_refuses_a_trailing_terminator(string end)
    {
        static JObject Doc(string name, string token, string child, string syncToken, string repository, string pattern) => new()
        {
            ["name"] = name,
            ["parent"] = new JObject { ["endpoint"] = "https://parent.example", ["syncTokenName"] = syncToken },
            ["sync"] = new JObject { ["repositories"] = new JArray(repository) },
            ["clientTokens"] = new JObject { [token] = new JObject { ["passwordHash"] = Hash, ["scopeMap"] = new JObject { [pattern] = new JArray("content/read") } } },
            ["children"] = new JObject { [child] = new JObject { ["syncTokenPasswordHash"] = Hash, ["repositories"] = new JArray(repository) } },
        };

        Assert.Empty(DesiredPropertiesParser.Parse(Doc("factory-line-1", "puller", "cell-one", "sync-user", "factory/*", "teama/app")).Errors);
        var result = DesiredPropertiesParser.Parse(Doc("factory-line-1" + end, "puller" + end, "cell-one" + end, "sync-user" + end, "factory/*" + end, "teama/app" + end));
        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.StartsWith("name ", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("parent.syncTokenName", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("sync.repositories[0]", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("clientTokens.puller" + end + ": the name must be", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("clientTokens.puller" + end + ": 'teama/app" + end + "' is not a repository name", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("children.cell-one" + end + ": the name must be", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("children.cell-one" + end + ": 'factory/*" + end + "' is not a repository name", StringComparison.Ordinal));
    }
}
