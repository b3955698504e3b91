using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Distribution;

public sealed class DiscoveryApiTests(RegistryFixture fixture) : IClassFixture<RegistryFixture>
{
    private readonly HttpClient _client = fixture.Client;

    [Fact]
    public async Task Tags_are_listed_sorted_and_paginated_with_link()
    {
        var image = TestContent.Image("tags");
        await _client.PushImageAsync("discovery/tags", "b", image);
        foreach (var tag in new[] { "a", "D", "c", "e" })
        {
            Assert.Equal(HttpStatusCode.Created, (await _client.PutManifestAsync("discovery/tags", tag, image.Manifest)).StatusCode);
        }

        var all = JObject.Parse(await _client.GetStringAsync("/v2/discovery/tags/tags/list"));
        Assert.Equal("discovery/tags", (string)all["name"]!);
        Assert.Equal(["D", "a", "b", "c", "e"], all["tags"]!.Select(t => (string)t!));

        var page = await _client.GetAsync("/v2/discovery/tags/tags/list?n=2");
        Assert.Equal(["D", "a"], JObject.Parse(await page.Content.ReadAsStringAsync())["tags"]!.Select(t => (string)t!));
        Assert.Equal("</v2/discovery/tags/tags/list?n=2&last=a>; rel=\"next\"", Assert.Single(page.Headers.GetValues("Link")));

        var next = await _client.GetAsync("/v2/discovery/tags/tags/list?n=2&last=a");
        Assert.Equal(["b", "c"], JObject.Parse(await next.Content.ReadAsStringAsync())["tags"]!.Select(t => (string)t!));
        var tail = await _client.GetAsync("/v2/discovery/tags/tags/list?n=2&last=c");
        Assert.Equal(["e"], JObject.Parse(await tail.Content.ReadAsStringAsync())["tags"]!.Select(t => (string)t!));
        Assert.False(tail.Headers.Contains("Link"));

        var none = JObject.Parse(await _client.GetStringAsync("/v2/discovery/tags/tags/list?n=0"));
        Assert.Empty(none["tags"]!);
    }

    [Fact]
    public async Task Tags_of_unknown_repository_is_name_unknown_and_bad_n_is_400()
    {
        var unknown = await _client.GetAsync("/v2/discovery/nothing/tags/list");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("NAME_UNKNOWN", await unknown.ErrorCodeAsync());

        await _client.PushImageAsync("discovery/badn", "v1", TestContent.Image("badn"));
        var bad = await _client.GetAsync("/v2/discovery/badn/tags/list?n=-1");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("PAGINATION_NUMBER_INVALID", await bad.ErrorCodeAsync());
    }

    [Fact]
    public async Task Referrers_list_artifacts_and_filter_by_artifact_type()
    {
        var image = TestContent.Image("referred");
        await _client.PushImageAsync("discovery/referrers", "app", image);
        var signature = TestContent.Artifact("sig", "application/vnd.example.sig", image.Manifest, new Dictionary<string, string> { ["org.example.signer"] = "ci" });
        var sbom = TestContent.Artifact("sbom", "application/vnd.example.sbom", image.Manifest);
        await _client.PushImageAsync("discovery/referrers", signature.Manifest.Digest.ToString(), signature);
        await _client.PushImageAsync("discovery/referrers", sbom.Manifest.Digest.ToString(), sbom);

        var all = await _client.GetAsync($"/v2/discovery/referrers/referrers/{image.Manifest.Digest}");
        Assert.Equal(HttpStatusCode.OK, all.StatusCode);
        Assert.Equal("application/vnd.oci.image.index.v1+json", all.Content.Headers.ContentType!.MediaType);
        var index = JObject.Parse(await all.Content.ReadAsStringAsync());
        Assert.Equal(2, (int)index["schemaVersion"]!);
        var manifests = (JArray)index["manifests"]!;
        Assert.Equal(2, manifests.Count);
        var sig = manifests.Single(m => (string)m["digest"]! == signature.Manifest.Digest.ToString());
        Assert.Equal(signature.Manifest.Size, (long)sig["size"]!);
        Assert.Equal("application/vnd.oci.image.manifest.v1+json", (string)sig["mediaType"]!);
        Assert.Equal("ci", (string)sig["annotations"]!["org.example.signer"]!);
        Assert.False(all.Headers.Contains("OCI-Filters-Applied"));

        var filtered = await _client.GetAsync($"/v2/discovery/referrers/referrers/{image.Manifest.Digest}?artifactType=application/vnd.example.sbom");
        Assert.Equal("artifactType", Assert.Single(filtered.Headers.GetValues("OCI-Filters-Applied")));
        var only = Assert.Single((JArray)JObject.Parse(await filtered.Content.ReadAsStringAsync())["manifests"]!);
        Assert.Equal(sbom.Manifest.Digest.ToString(), (string)only["digest"]!);
    }

    [Fact]
    public async Task Referrers_of_a_digest_without_any_is_an_empty_index_and_bad_digest_is_400()
    {
        var none = await _client.GetAsync($"/v2/discovery/unreferenced/referrers/{TestContent.Image("lonely").Manifest.Digest}");
        Assert.Equal(HttpStatusCode.OK, none.StatusCode);
        Assert.Empty((JArray)JObject.Parse(await none.Content.ReadAsStringAsync())["manifests"]!);

        var bad = await _client.GetAsync("/v2/discovery/unreferenced/referrers/sha256:nope");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("DIGEST_INVALID", await bad.ErrorCodeAsync());
    }

    [Fact]
    public async Task Referrer_pushed_before_its_subject_is_listed()
    {
        var image = TestContent.Image("subject-later");
        var artifact = TestContent.Artifact("early-sig", "application/vnd.example.sig", image.Manifest);
        await _client.PushImageAsync("discovery/early", artifact.Manifest.Digest.ToString(), artifact);

        var list = JObject.Parse(await _client.GetStringAsync($"/v2/discovery/early/referrers/{image.Manifest.Digest}"));
        Assert.Single((JArray)list["manifests"]!);
    }

    [Fact]
    public async Task Catalog_is_paginated_with_link()
    {
        await using var registry = await RegistryInstance.StartAsync();
        try
        {
            var image = TestContent.Image("catalog");
            foreach (var name in new[] { "c/one", "a", "b/x/y" })
            {
                await registry.Client.PushImageAsync(name, "v1", image);
            }

            // An upload alone does not make a repository appear in the catalog.
            await registry.Client.PushBlobAsync("d-empty", image.Config);

            var all = JObject.Parse(await registry.Client.GetStringAsync("/v2/_catalog"));
            Assert.Equal(["a", "b/x/y", "c/one"], all["repositories"]!.Select(r => (string)r!));

            var page = await registry.Client.GetAsync("/v2/_catalog?n=2");
            Assert.Equal(["a", "b/x/y"], JObject.Parse(await page.Content.ReadAsStringAsync())["repositories"]!.Select(r => (string)r!));
            Assert.Equal("</v2/_catalog?n=2&last=b%2Fx%2Fy>; rel=\"next\"", Assert.Single(page.Headers.GetValues("Link")));
            var next = JObject.Parse(await registry.Client.GetStringAsync("/v2/_catalog?n=2&last=b%2Fx%2Fy"));
            Assert.Equal(["c/one"], next["repositories"]!.Select(r => (string)r!));
        }
        finally
        {
            registry.DeleteData();
        }
    }

    [Fact]
    public async Task Catalog_lists_only_repositories_the_access_feature_allows()
    {
        await using var registry = await RegistryInstance.StartAsync(configure: builder =>
            builder.Services.AddSingleton<IStartupFilter>(new AccessFilter(new OnlyPrefix("team/"))));
        try
        {
            var image = TestContent.Image("catalog-access");
            foreach (var name in new[] { "team/a", "other/b", "team/c", "zzz" })
            {
                await registry.Client.PushImageAsync(name, "v1", image);
            }

            var all = JObject.Parse(await registry.Client.GetStringAsync("/v2/_catalog"));
            Assert.Equal(["team/a", "team/c"], all["repositories"]!.Select(r => (string)r!));
            var page = await registry.Client.GetAsync("/v2/_catalog?n=1");
            Assert.Equal(["team/a"], JObject.Parse(await page.Content.ReadAsStringAsync())["repositories"]!.Select(r => (string)r!));
            Assert.Contains("last=team%2Fa", Assert.Single(page.Headers.GetValues("Link")));
        }
        finally
        {
            registry.DeleteData();
        }
    }

    private sealed class OnlyPrefix(string prefix) : IRepositoryAccessFeature
    {
        public string? Subject => "test";

        public bool Can(string repository, string action) =>
            action == RegistryActions.MetadataRead && repository.StartsWith(prefix, StringComparison.Ordinal);
    }

    private sealed class AccessFilter(IRepositoryAccessFeature feature) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                // Writes are unaffected in this test; only the catalog consults the feature.
                context.Features.Set(feature);
                return nextMiddleware(context);
            });
            next(app);
        };
    }
}
