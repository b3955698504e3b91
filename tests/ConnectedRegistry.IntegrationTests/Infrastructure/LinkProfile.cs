namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>A thin link: rate each way, one-way latency, a reset of every connection after each N bytes, then down for a while.</summary>
public sealed record LinkProfile(double RateBitsPerSecond, TimeSpan Latency, long DropEveryBytes, TimeSpan DownTime)
{
    public void ApplyTo(LinkEmulator link)
    {
        link.RateBitsPerSecond = RateBitsPerSecond;
        link.Latency = Latency;
        link.DropEveryBytes = DropEveryBytes;
        link.DownTime = DownTime;
    }
}
