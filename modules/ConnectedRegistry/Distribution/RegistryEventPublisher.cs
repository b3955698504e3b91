using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Distribution;

/// <summary>Tells every registered <see cref="IRegistryEventSink"/> about a client change that committed; a failing sink is logged, never the client's problem.</summary>
public sealed partial class RegistryEventPublisher(IEnumerable<IRegistryEventSink> sinks, ILogger<RegistryEventPublisher> logger)
{
    private readonly IRegistryEventSink[] _sinks = [.. sinks];

    public void ManifestPushed(string repository, Digest digest, string mediaType, string? tag) =>
        Each(sink => sink.ManifestPushed(repository, digest, mediaType, tag));

    public void ManifestDeleted(string repository, Digest digest) => Each(sink => sink.ManifestDeleted(repository, digest));

    public void TagDeleted(string repository, string tag) => Each(sink => sink.TagDeleted(repository, tag));

    private void Each(Action<IRegistryEventSink> call)
    {
        foreach (var sink in _sinks)
        {
            try
            {
                call(sink);
            }
            catch (Exception ex)
            {
                Log.SinkFailed(logger, ex, sink.GetType().Name);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1201, Level = LogLevel.Error, Message = "Registry event sink {Sink} failed")]
        public static partial void SinkFailed(ILogger logger, Exception exception, string sink);
    }
}
