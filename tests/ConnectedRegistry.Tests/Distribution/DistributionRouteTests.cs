using ConnectedRegistry.Distribution;

namespace ConnectedRegistry.Tests.Distribution;

public class DistributionRouteTests
{
    [Theory]
    [InlineData("", DistributionResource.Base, "", "")]
    [InlineData("_catalog", DistributionResource.Catalog, "", "")]
    [InlineData("a/b/c/tags/list", DistributionResource.Tags, "a/b/c", "")]
    [InlineData("a/b/manifests/latest", DistributionResource.Manifest, "a/b", "latest")]
    [InlineData("a/blobs/uploads/", DistributionResource.UploadStart, "a", "")]
    [InlineData("a/blobs/uploads", DistributionResource.UploadStart, "a", "")]
    [InlineData("a/b/blobs/uploads/0123", DistributionResource.Upload, "a/b", "0123")]
    [InlineData("a/blobs/sha256:abc", DistributionResource.Blob, "a", "sha256:abc")]
    [InlineData("x/referrers/sha256:abc", DistributionResource.Referrers, "x", "sha256:abc")]
    [InlineData("manifests/manifests/v1", DistributionResource.Manifest, "manifests", "v1")]
    [InlineData("blobs/blobs/uploads/", DistributionResource.UploadStart, "blobs", "")]
    [InlineData("/manifests/v1", DistributionResource.Manifest, "", "v1")]
    public void Paths_are_split_into_resource_name_and_reference(string path, DistributionResource resource, string name, string reference)
    {
        var route = DistributionRoute.Parse(path);

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
        Assert.Null(DistributionRoute.Parse(path));
    }
}
