namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>One probe of a server that may not listen yet (a container starting): for polling with <see cref="Poll"/>.</summary>
public static class HttpProbe
{
    /// <summary>Sends a fresh <paramref name="request"/>; true when the answer passes <paramref name="accept"/>, false when it does not or nothing answers.</summary>
    public static async Task<bool> AnswersAsync(HttpClient client, Func<HttpRequestMessage> request, Func<HttpResponseMessage, bool> accept)
    {
        try
        {
            using var message = request();
            using var response = await client.SendAsync(message);
            return accept(response);
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }
}
