using System.Net;
using ConnectedRegistry.IntegrationTests.Infrastructure;

namespace ConnectedRegistry.IntegrationTests.Distribution;

public class BaseEndpointTests
{
    [Fact]
    public async Task Get_v2_answers_200_with_api_version_header()
    {
        await using var registry = await RegistryInstance.StartAsync();
        try
        {
            var response = await registry.Client.GetAsync("/v2/");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("registry/2.0", Assert.Single(response.Headers.GetValues("Docker-Distribution-API-Version")));
        }
        finally
        {
            registry.DeleteData();
        }
    }
}
