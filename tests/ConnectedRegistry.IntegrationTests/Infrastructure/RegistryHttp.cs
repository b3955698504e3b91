using System.Net;
using System.Net.Http.Headers;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>Raw HTTP helpers for pushing content to the registry under test.</summary>
public static class RegistryHttp
{
    /// <summary>Starts an upload session (asserting 202) and returns its Location.</summary>
    public static async Task<string> StartUploadAsync(this HttpClient client, string repository)
    {
        var response = await client.PostAsync($"/v2/{repository}/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return response.Headers.Location!.OriginalString;
    }

    /// <summary>Sends one PATCH of an upload session, with a Content-Range when <paramref name="start"/> is given.</summary>
    public static Task<HttpResponseMessage> PatchUploadAsync(this HttpClient client, string location, byte[] chunk, long? start)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, location) { Content = new ByteArrayContent(chunk) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (start is { } s)
        {
            request.Content.Headers.TryAddWithoutValidation("Content-Range", $"{s}-{s + chunk.Length - 1}");
        }

        return client.SendAsync(request);
    }

    public static async Task PushBlobAsync(this HttpClient client, string repository, TestBlob blob)
    {
        using var content = new ByteArrayContent(blob.Bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        var response = await client.PostAsync($"/v2/{repository}/blobs/uploads/?digest={blob.Digest}", content);
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
    }

    public static async Task<HttpResponseMessage> PutManifestAsync(this HttpClient client, string repository, string reference, TestBlob manifest)
    {
        using var content = new ByteArrayContent(manifest.Bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(manifest.MediaType);
        return await client.PutAsync($"/v2/{repository}/manifests/{reference}", content);
    }

    public static async Task PushImageAsync(this HttpClient client, string repository, string reference, TestImage image)
    {
        foreach (var blob in image.Blobs)
        {
            await client.PushBlobAsync(repository, blob);
        }

        var response = await client.PutManifestAsync(repository, reference, image.Manifest);
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
    }

    /// <summary>The OCI error code of an error response (asserting it is the envelope).</summary>
    public static async Task<string> ErrorCodeAsync(this HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        var envelope = Newtonsoft.Json.Linq.JObject.Parse(body);
        return (string)envelope["errors"]![0]!["code"]!;
    }
}
