using System.Net.Sockets;
using System.Text;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// The Docker Engine API over the engine's Unix socket, the calls edgeAgent makes to run a module: create a container
/// from the deployment's <c>createOptions</c> (with its own environment, binds and labels merged in), start, stop with a
/// grace period, inspect, remove. API version 1.41 (the engine Debian ships; edgeAgent asks the same or older).
/// </summary>
public sealed class DockerEngineApi : IDisposable
{
    private const string Version = "v1.41";
    private readonly HttpClient _http;

    public DockerEngineApi(string socket)
    {
        _http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, token) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), token);
                return new NetworkStream(s, ownsSocket: true);
            },
        })
        { BaseAddress = new Uri("http://docker/"), Timeout = TimeSpan.FromMinutes(2) };
    }

    /// <summary><c>POST /containers/create?name=NAME</c> with <paramref name="body"/>; returns the container's id.</summary>
    public async Task<string> CreateContainerAsync(string name, JObject body)
    {
        using var content = new StringContent(body.ToString(Newtonsoft.Json.Formatting.None), Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync($"{Version}/containers/create?name={Uri.EscapeDataString(name)}", content);
        var text = await response.Content.ReadAsStringAsync();
        return response.IsSuccessStatusCode
            ? JObject.Parse(text)["Id"]!.Value<string>()!
            : throw new InvalidOperationException($"container create failed ({(int)response.StatusCode}): {text}");
    }

    public Task StartAsync(string id) => SendAsync(HttpMethod.Post, $"containers/{id}/start");

    /// <summary><c>POST /containers/ID/stop?t=SECONDS</c>: SIGTERM, then SIGKILL after the grace period (as edgeAgent stops a module).</summary>
    public Task StopAsync(string id, int graceSeconds = 10) => SendAsync(HttpMethod.Post, $"containers/{id}/stop?t={graceSeconds}");

    public Task RemoveAsync(string id) => SendAsync(HttpMethod.Delete, $"containers/{id}?force=true");

    public async Task<JObject> InspectAsync(string id)
    {
        using var response = await _http.GetAsync($"{Version}/containers/{id}/json");
        var text = await response.Content.ReadAsStringAsync();
        return response.IsSuccessStatusCode ? JObject.Parse(text) : throw new InvalidOperationException($"inspect failed ({(int)response.StatusCode}): {text}");
    }

    /// <summary>The container's <c>State.Health.Status</c> (starting, healthy, unhealthy), or null without a health check.</summary>
    public async Task<string?> HealthAsync(string id) => (await InspectAsync(id)).SelectToken("State.Health.Status")?.Value<string>();

    public void Dispose() => _http.Dispose();

    private async Task SendAsync(HttpMethod method, string path)
    {
        using var request = new HttpRequestMessage(method, $"{Version}/{path}");
        using var response = await _http.SendAsync(request);
        if (!response.IsSuccessStatusCode && (int)response.StatusCode != 304)
        {
            throw new InvalidOperationException($"{method} {path} failed ({(int)response.StatusCode}): {await response.Content.ReadAsStringAsync()}");
        }
    }
}
