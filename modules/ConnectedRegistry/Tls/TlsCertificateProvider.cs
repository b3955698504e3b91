using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using Microsoft.AspNetCore.Connections;

namespace ConnectedRegistry.Tls;

/// <summary>
/// The certificate Kestrel serves HTTPS with. Decides the source at start-up (before Kestrel binds):
/// PEM files when <c>--tls-cert</c>/<c>--tls-key</c> are given, else the IoT Edge workload API when the
/// module has an IoT Edge identity and an https:// address (or <c>--tls workload</c>) is configured.
/// Files are re-read when they change; workload certificates are renewed at <see cref="TlsOptions.RenewAfter"/>
/// of their lifetime, and a failed renewal keeps the old certificate and raises a status detail.
/// </summary>
public sealed partial class TlsCertificateProvider : IHostedService, IDisposable
{
    [StatusDetailCode]
    public const string RenewalStatusCode = "TlsCertificateRenewal";
    [StatusDetailCode]
    public const string ReloadStatusCode = "TlsCertificateReload";
    [StatusDetailCode]
    public const string ExpiryStatusCode = "TlsCertificateExpiring";

    private readonly TlsOptions _options;
    private readonly ModuleIdentitySource _identitySource;
    private readonly TimeProvider _time;
    private readonly ModuleState _state;
    private readonly ILogger _logger;
    private readonly Lock _reloadGate = new();
    private readonly CancellationTokenSource _stop = new();
    private ServedCertificate? _current;
    private ModuleIdentity? _identity;
    private Task _renewal = Task.CompletedTask;
    private FileStamp? _stamp;
    private FileStamp? _failedStamp;
    private DateTimeOffset _lastCheck;
    private int _disposed;

    public TlsCertificateProvider(TlsOptions options, ModuleIdentitySource identitySource, TimeProvider time, ModuleState state, ILogger<TlsCertificateProvider> logger)
    {
        _options = options;
        _identitySource = identitySource;
        _time = time;
        _state = state;
        _logger = logger;
    }

    public TlsSource Source { get; private set; }

    /// <summary>The name the workload certificate was issued for (clients should use it); null for files or no TLS.</summary>
    public string? HostName { get; private set; }

    /// <summary>The certificate served now (null before start or without TLS).</summary>
    public ServedCertificate? Current => Volatile.Read(ref _current);

    /// <summary>Raised after a new certificate replaced the served one.</summary>
    public event Action<ServedCertificate>? CertificateChanged;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        Source = Decide();
        switch (Source)
        {
            case TlsSource.Files:
                _stamp = FileStamp.Of(_options.CertificateFile!, _options.KeyFile!);
                _current = PemCertificateFiles.Load(_options.CertificateFile!, _options.KeyFile!, _time.GetUtcNow());
                _lastCheck = _time.GetUtcNow();
                Log.FromFiles(_logger, _current.Certificate.Subject, _current.Certificate.Thumbprint, _current.Expires);
                ReportFileExpiry(_lastCheck);
                break;
            case TlsSource.Workload:
                try
                {
                    _current = await FetchAsync(cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    throw new TlsConfigurationException($"HTTPS ({ModeOption()}): the IoT Edge workload API did not issue a server certificate for '{HostName}': {ex.Message}", ex);
                }

                Log.FromWorkload(_logger, HostName!, _current.Certificate.Thumbprint, _current.Expires);
                _renewal = Task.Run(() => RenewLoopAsync(_stop.Token), CancellationToken.None);
                break;
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync();
        await _renewal.WaitAsync(cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    public void Dispose()
    {
        // Registered as a singleton and as a hosted service: disposed once per registration.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        _stop.Dispose();
    }

    /// <summary>
    /// Kestrel's <c>ServerCertificateSelector</c>: the current certificate (files re-read when they changed).
    /// </summary>
    public X509Certificate2? Select(ConnectionContext? connection, string? serverName) => CurrentForHandshake()?.Certificate;

    /// <summary>
    /// Kestrel's <c>OnAuthenticate</c>: hands SslStream the current certificate together with its intermediates
    /// (an edge CA below an owner root, or the chain in the PEM file), which a bare selector cannot carry.
    /// SslStream accepts a certificate context or a selection callback, not both.
    /// </summary>
    public void OnAuthenticate(ConnectionContext connection, SslServerAuthenticationOptions options)
    {
        if (CurrentForHandshake() is { } current)
        {
            options.ServerCertificateSelectionCallback = null;
            options.ServerCertificate = null;
            options.ServerCertificateContext = current.Context;
        }
    }

    private ServedCertificate? CurrentForHandshake()
    {
        if (Source == TlsSource.Files)
        {
            ReloadFilesIfChanged();
        }

        return Current;
    }

    private StartupOption ModeOption() => string.Equals(_options.Mode, "workload", StringComparison.OrdinalIgnoreCase) ? TlsOptions.ModeOption : TlsOptions.UrlsOption;

    private TlsSource Decide()
    {
        var mode = _options.Mode; // null, auto or workload (TlsOptions refuses anything else)
        var workloadAsked = string.Equals(mode, "workload", StringComparison.OrdinalIgnoreCase);
        var hasCert = _options.CertificateFile is not null;
        var hasKey = _options.KeyFile is not null;
        if (hasCert != hasKey)
        {
            throw new TlsConfigurationException(hasCert
                ? $"{TlsOptions.CertOption} is set but {TlsOptions.KeyOption} is missing: give the server certificate's private key file too."
                : $"{TlsOptions.KeyOption} is set but {TlsOptions.CertOption} is missing: give the server certificate file too.");
        }

        if (hasCert && workloadAsked)
        {
            throw new TlsConfigurationException($"{TlsOptions.ModeOption}=workload and {TlsOptions.CertOption} are both set: choose the certificate files or the IoT Edge workload API.");
        }

        var https = _options.HttpsUrls.Count > 0;
        if (!https)
        {
            if (hasCert || workloadAsked)
            {
                throw new TlsConfigurationException($"{(hasCert ? TlsOptions.CertOption : TlsOptions.ModeOption)} is set but {TlsOptions.UrlsOption} has no https:// address to serve it on (for example --urls https://0.0.0.0:8443).");
            }

            return TlsSource.None;
        }

        if (hasCert)
        {
            return TlsSource.Files;
        }

        var edge = _identitySource.IsConfigured;
        if (!edge && !workloadAsked)
        {
            throw new TlsConfigurationException($"{TlsOptions.UrlsOption} has an https:// address ({_options.HttpsUrls[0]}) but no certificate: give {TlsOptions.CertOption} and {TlsOptions.KeyOption} (PEM files), or run as an IoT Edge module, where the workload API issues one.");
        }

        var identity = edge ? _identitySource.Identity : null;
        if (identity?.Workload is null || identity.GenerationId is null)
        {
            throw new TlsConfigurationException(workloadAsked
                ? $"{TlsOptions.ModeOption}=workload needs the IoT Edge workload API: the IOTEDGE_* variables edgeAgent gives a module ({ModuleIdentityFactory.WorkloadUri}, {ModuleIdentityFactory.ModuleId}, {ModuleIdentityFactory.GenerationId}, ...). Outside IoT Edge, or with a connection string, give {TlsOptions.CertOption} and {TlsOptions.KeyOption}."
                : $"{TlsOptions.UrlsOption} has an https:// address but no certificate: with a connection string there is no workload API; give {TlsOptions.CertOption} and {TlsOptions.KeyOption}.");
        }

        _identity = identity;
        var hostName = _options.HostName ?? _identitySource.Environment[ModuleIdentityFactory.GatewayHostName] ?? identity.ModuleId;
        if (Uri.CheckHostName(hostName) == UriHostNameType.Unknown)
        {
            throw new TlsConfigurationException($"{TlsOptions.HostNameOption} must be a host name or IP address, got '{hostName}'.");
        }

        HostName = hostName;
        return TlsSource.Workload;
    }

    private async Task<ServedCertificate> FetchAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var issued = await _identity!.Workload!.CreateServerCertificateAsync(_identity.ModuleId, _identity.GenerationId!, HostName!, now + _options.Validity, cancellationToken);
        var notAfter = new DateTimeOffset(issued.Certificate.NotAfter.ToUniversalTime());
        var expires = issued.Expiration < notAfter ? issued.Expiration : notAfter;
        return ServedCertificate.Create(issued.Certificate, issued.Chain, now, expires);
    }

    /// <summary>When a certificate obtained at <paramref name="obtained"/> and expiring at <paramref name="expires"/> is renewed.</summary>
    public static DateTimeOffset RenewalTime(DateTimeOffset obtained, DateTimeOffset expires, double renewAfter) =>
        expires <= obtained ? obtained : obtained + ((expires - obtained) * renewAfter);

    private async Task RenewLoopAsync(CancellationToken cancellationToken)
    {
        // Absolute times, so a clock that jumps past them (a suspended device, a test's fake clock) renews at once: a
        // schedule, not a retry Polly could own (see Backoff).
        var backoff = new Backoff(_options.RetryDelay > TimeSpan.Zero ? _options.RetryDelay : TimeSpan.FromSeconds(1), _options.RetryMaxDelay);
        var failures = 0;
        DateTimeOffset? retryAt = null;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var current = Current!;
                var renewal = RenewalTime(current.ObtainedAt, current.Expires, _options.RenewAfter);
                var earliest = current.ObtainedAt + _options.RetryDelay; // an edge CA near its own end issues short certificates: never spin
                var due = retryAt ?? (renewal > earliest ? renewal : earliest);
                var wait = due - _time.GetUtcNow();
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _time, cancellationToken);
                }

                try
                {
                    var renewed = await FetchAsync(cancellationToken);
                    Swap(renewed);
                    failures = 0;
                    retryAt = null;
                    _state.ClearStatusDetail(RenewalStatusCode);
                    Log.Renewed(_logger, HostName!, renewed.Certificate.Thumbprint, renewed.Expires);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    var retry = backoff.After(++failures);
                    var now = _time.GetUtcNow();
                    retryAt = now + retry;
                    var expired = current.Expires <= now;
                    var description = $"Renewing the TLS server certificate from the IoT Edge workload API failed: {ex.Message} "
                        + (expired ? $"The served certificate expired at {current.Expires:o}" : $"Still serving the certificate that expires at {current.Expires:o}")
                        + $"; retrying in {retry}.";
                    _state.SetStatusDetail(new StatusDetail(RenewalStatusCode, expired ? "Error" : "Warning", description, now));
                    Log.RenewalFailed(_logger, ex.Message, current.Expires, retry);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private void ReloadFilesIfChanged()
    {
        var now = _time.GetUtcNow();
        if (now - _lastCheck < _options.ReloadInterval || !_reloadGate.TryEnter())
        {
            return;
        }

        try
        {
            _lastCheck = now;
            var stamp = FileStamp.Of(_options.CertificateFile!, _options.KeyFile!);
            if (stamp == _stamp || stamp == _failedStamp)
            {
                ReportFileExpiry(now);
                return;
            }

            try
            {
                var loaded = PemCertificateFiles.Load(_options.CertificateFile!, _options.KeyFile!, now);
                _stamp = stamp;
                _failedStamp = null;
                Swap(loaded);
                _state.ClearStatusDetail(ReloadStatusCode);
                ReportFileExpiry(now);
                Log.Reloaded(_logger, loaded.Certificate.Subject, loaded.Certificate.Thumbprint, loaded.Expires);
            }
            catch (TlsConfigurationException ex)
            {
                // A renewal tool may write the certificate and the key one after the other: retry at the next change.
                _failedStamp = stamp;
                _state.SetStatusDetail(new StatusDetail(ReloadStatusCode, "Warning", $"The changed TLS certificate files were not loaded, the previous certificate is still served: {ex.Message}", now));
                Log.ReloadFailed(_logger, ex.Message);
            }
        }
        finally
        {
            _reloadGate.Exit();
        }
    }

    /// <summary>
    /// Files are renewed by someone else: once less than <c>1 - RenewAfter</c> of the certificate's lifetime is
    /// left (the point where a workload certificate would be renewed), say so in the reported status.
    /// </summary>
    private void ReportFileExpiry(DateTimeOffset now)
    {
        var current = Current!;
        var notBefore = new DateTimeOffset(current.Certificate.NotBefore.ToUniversalTime());
        var left = current.Expires - now;
        if (left > (current.Expires - notBefore) * (1 - _options.RenewAfter))
        {
            _state.ClearStatusDetail(ExpiryStatusCode);
            return;
        }

        var expired = left <= TimeSpan.Zero;
        _state.SetStatusDetail(new StatusDetail(
            ExpiryStatusCode,
            expired ? "Error" : "Warning",
            $"The TLS certificate from {TlsOptions.CertOption} ({current.Certificate.Subject}) {(expired ? "expired" : "expires")} at {current.Expires:o}: replace the files, they are picked up without a restart.",
            now));
    }

    private void Swap(ServedCertificate next)
    {
        Interlocked.Exchange(ref _current, next);
        CertificateChanged?.Invoke(next);
    }

    private sealed record FileStamp(DateTime CertWritten, long CertLength, DateTime KeyWritten, long KeyLength)
    {
        public static FileStamp Of(string cert, string key)
        {
            var c = new FileInfo(cert);
            var k = new FileInfo(key);
            return new FileStamp(c.Exists ? c.LastWriteTimeUtc : default, c.Exists ? c.Length : -1, k.Exists ? k.LastWriteTimeUtc : default, k.Exists ? k.Length : -1);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "HTTPS with the certificate files: {Subject} ({Thumbprint}), expires {Expires:o}")]
        public static partial void FromFiles(ILogger logger, string subject, string thumbprint, DateTimeOffset expires);

        [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "HTTPS with a certificate for {HostName} from the IoT Edge workload API ({Thumbprint}), expires {Expires:o}")]
        public static partial void FromWorkload(ILogger logger, string hostName, string thumbprint, DateTimeOffset expires);

        [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "TLS certificate for {HostName} renewed from the IoT Edge workload API ({Thumbprint}), expires {Expires:o}")]
        public static partial void Renewed(ILogger logger, string hostName, string thumbprint, DateTimeOffset expires);

        [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "TLS certificate renewal failed ({Reason}); still serving the certificate that expires {Expires:o}, retrying in {Retry}")]
        public static partial void RenewalFailed(ILogger logger, string reason, DateTimeOffset expires, TimeSpan retry);

        [LoggerMessage(EventId = 14, Level = LogLevel.Information, Message = "TLS certificate files changed, now serving {Subject} ({Thumbprint}), expires {Expires:o}")]
        public static partial void Reloaded(ILogger logger, string subject, string thumbprint, DateTimeOffset expires);

        [LoggerMessage(EventId = 15, Level = LogLevel.Warning, Message = "TLS certificate files changed but were not loaded, the previous certificate is still served: {Reason}")]
        public static partial void ReloadFailed(ILogger logger, string reason);
    }
}
