using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using Microsoft.AspNetCore.Http;

namespace ConnectedRegistry.Tests.Core;

public class OciRouteFeatureTests
{
    [Fact]
    public async Task The_middleware_parses_a_v2_route_once_and_every_reader_gets_that_parse()
    {
        var context = new DefaultHttpContext();
        context.Request.Path = "/v2/a/blobs/b/manifests/latest";
        OciRouteFeature? seen = null;
        var middleware = new OciRouteMiddleware(c =>
        {
            seen = c.Features.Get<OciRouteFeature>();
            return Task.CompletedTask;
        });

        await middleware.InvokeAsync(context);

        Assert.NotNull(seen);
        Assert.Equal(new OciRoute(OciResource.Manifest, "a/blobs/b", "latest"), seen.Route);
        Assert.Same(seen, OciRouteFeature.Of(context));
        Assert.Same(seen.Route, OciRouteFeature.Of(context)!.Route);
    }

    [Theory]
    [InlineData("/v2/a")]
    [InlineData("/v2/a/manifests")]
    public void A_v2_path_no_resource_serves_has_the_feature_with_no_route(string path)
    {
        var context = new DefaultHttpContext();
        context.Request.Path = path;

        var feature = OciRouteFeature.Of(context);

        Assert.NotNull(feature);
        Assert.Null(feature.Route);
    }

    [Theory]
    [InlineData("/acr/v1/_tags")]
    [InlineData("/v2foo/a/manifests/v1")]
    [InlineData("/oauth2/token")]
    public async Task Other_paths_get_no_feature(string path)
    {
        var context = new DefaultHttpContext();
        context.Request.Path = path;

        await new OciRouteMiddleware(_ => Task.CompletedTask).InvokeAsync(context);

        Assert.Null(context.Features.Get<OciRouteFeature>());
        Assert.Null(OciRouteFeature.Of(context));
    }
}
