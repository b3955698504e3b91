using System.Net;
using ConnectedRegistry.Hierarchy;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Hierarchy;

/// <summary>How a child reads its parent's answer to the hierarchy API: this kind of registry, a plain one, or something in the way.</summary>
public sealed class HierarchyResponseTests
{
    private static readonly JObject Json = new() { ["activationState"] = "Active" };

    public static TheoryData<HttpStatusCode, string?, bool, bool, string> Answers => new()
    {
        // status, OCI error code, JSON body, our 401 challenge → what it is
        { HttpStatusCode.OK, null, true, false, "ok" },
        { HttpStatusCode.OK, null, false, false, "unexpected" },                // an HTML page with 200 (a captive portal)
        { HttpStatusCode.NotFound, null, false, false, "plain" },               // docker-registry: unknown route
        { HttpStatusCode.NotFound, "NAME_UNKNOWN", true, false, "plain" },       // this module without children
        { HttpStatusCode.MethodNotAllowed, null, false, false, "plain" },
        { HttpStatusCode.Unauthorized, "UNAUTHORIZED", true, false, "plain" },   // another registry's challenge
        { HttpStatusCode.Unauthorized, "UNAUTHORIZED", true, true, "error" },    // ours: the sync token was refused
        { HttpStatusCode.Forbidden, null, false, false, "unexpected" },         // nginx's HTML 403 from an API proxy
        { HttpStatusCode.Forbidden, "DENIED", true, false, "error" },           // the parent refuses the mode
        { HttpStatusCode.Conflict, "ALREADY_ACTIVATED", true, false, "error" },
        { HttpStatusCode.Found, null, false, false, "unexpected" },             // a redirect to a login page
        { HttpStatusCode.BadGateway, null, false, false, "error" },             // the proxy, with the registry down: retried
    };

    [Theory]
    [MemberData(nameof(Answers))]
    public void An_answer_is_ok_plain_unexpected_or_an_error(HttpStatusCode status, string? code, bool json, bool ours, string expected)
    {
        var response = new HierarchyResponse(status, code, null, json ? Json : null, ours);
        var kind = response.Ok ? "ok" : response.NotOffered ? "plain" : response.Unexpected ? "unexpected" : "error";
        Assert.Equal(expected, kind);
    }

    [Fact]
    public void An_unexpected_answer_is_described_by_its_request_status_and_body()
    {
        var response = new HierarchyResponse(HttpStatusCode.Forbidden, null, null, null)
        {
            Method = "POST",
            Uri = new Uri("https://parent-device:8000/acr/connected-registry/v1/activate"),
            ContentType = "text/html",
        };
        Assert.Equal("POST https://parent-device:8000/acr/connected-registry/v1/activate answered 403 Forbidden with an HTML page", response.DescribeUnexpected());
    }
}
