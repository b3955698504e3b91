using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Tests.Oci;

public class OciRouteTests
{
    [Theory]
    [InlineData("", OciResource.Base, "", "")]
    [InlineData("_catalog", OciResource.Catalog, "", "")]
    [InlineData("a/b/c/tags/list", OciResource.Tags, "a/b/c", "")]
    [InlineData("a/b/manifests/latest", OciResource.Manifest, "a/b", "latest")]
    [InlineData("a/blobs/uploads/", OciResource.UploadStart, "a", "")]
    [InlineData("a/blobs/uploads", OciResource.UploadStart, "a", "")]
    [InlineData("a/b/blobs/uploads/0123", OciResource.Upload, "a/b", "0123")]
    [InlineData("a/blobs/sha256:abc", OciResource.Blob, "a", "sha256:abc")]
    [InlineData("x/referrers/sha256:abc", OciResource.Referrers, "x", "sha256:abc")]
    [InlineData("manifests/manifests/v1", OciResource.Manifest, "manifests", "v1")]
    [InlineData("blobs/blobs/uploads/", OciResource.UploadStart, "blobs", "")]
    [InlineData("/manifests/v1", OciResource.Manifest, "", "v1")]
    [InlineData("a/blobs/b/manifests/latest", OciResource.Manifest, "a/blobs/b", "latest")]
    [InlineData("a/manifests/b/blobs/sha256:abc", OciResource.Blob, "a/manifests/b", "sha256:abc")]
    [InlineData("a/blobs/b/blobs/uploads/0123", OciResource.Upload, "a/blobs/b", "0123")]
    [InlineData("a/tags/b/tags/list", OciResource.Tags, "a/tags/b", "")]
    public void Paths_are_split_into_resource_name_and_reference(string path, OciResource resource, string name, string reference)
    {
        var route = OciRoute.Parse(path);

        Assert.NotNull(route);
        Assert.Equal(resource, route.Resource);
        Assert.Equal(name, route.Name);
        Assert.Equal(reference, route.Reference);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("a/b")]
    [InlineData("a/manifests")]
    [InlineData("a/blobs/uploads/x/y")]
    public void Other_paths_are_not_api_resources(string path)
    {
        Assert.Null(OciRoute.Parse(path));
    }

    [Theory]
    [InlineData("/v2", OciResource.Base, "")]
    [InlineData("/v2/", OciResource.Base, "")]
    [InlineData("/V2/a/b/manifests/v1", OciResource.Manifest, "a/b")]
    [InlineData("/v2/a/blobs/b/tags/list", OciResource.Tags, "a/blobs/b")]
    public void A_request_path_under_v2_is_parsed_after_the_prefix(string path, OciResource resource, string name)
    {
        var route = OciRoute.ParseRequestPath(path, out var isApi);

        Assert.True(isApi);
        Assert.Equal((resource, name), (route!.Resource, route.Name));
    }

    [Theory]
    [InlineData("/v2/a", true)]
    [InlineData("/v2foo/a/manifests/v1", false)]
    [InlineData("/acr/v1/a/_tags", false)]
    [InlineData("/", false)]
    public void Other_request_paths_have_no_route(string path, bool isApi)
    {
        Assert.Null(OciRoute.ParseRequestPath(path, out var api));
        Assert.Equal(isApi, api);
    }
}
