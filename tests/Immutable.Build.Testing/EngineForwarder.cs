using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;

namespace Immutable.Build.Testing;

/// <summary>
/// Stands for a remote Docker host: listens on 127.0.0.1 on a free TCP port and forwards every accepted
/// connection byte for byte to a Docker engine's unix socket, optionally behind mutual TLS. A test can cut
/// the "network" (close every connection and refuse new ones), on demand or when a request goes by, and
/// resume it on the same port.
/// </summary>
public sealed class EngineForwarder : IAsyncDisposable
{
    private const int BufferSize = 81920;
    private const int InspectWindow = 1024;

    private readonly string _socketPath;
    private readonly EngineForwarderTls? _tls;
    private readonly object _gate = new();
    private readonly object _resumeGate = new();
    private readonly HashSet<Connection> _connections = [];
    private readonly List<Task> _tasks = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationToken _stopToken;
    private Socket? _listener;
    private Regex? _trigger;
    private TimeSpan _triggerDelay;
    private long _generation;
    private TaskCompletionSource _cut = NewCutSource();
    private volatile bool _isCut;
    private bool _isDisposed;

    private EngineForwarder(string socketPath, EngineForwarderTls? tls)
    {
        _socketPath = socketPath;
        _tls = tls;
        _stopToken = _stop.Token;
    }

    /// <summary>The TCP port on 127.0.0.1 the forwarder listens on (the same after <see cref="Resume"/>).</summary>
    public int Port { get; private set; }

    /// <summary>The Docker endpoint of the forwarder: <c>tcp://127.0.0.1:{Port}</c>.</summary>
    public string Endpoint => $"tcp://127.0.0.1:{Port}";

    /// <summary>True between a cut and the next <see cref="Resume"/>: connections are closed and new ones refused.</summary>
    public bool IsCut => _isCut;

    /// <summary>Starts forwarding 127.0.0.1:(a free port) to <paramref name="unixSocketPath"/>.</summary>
    /// <param name="unixSocketPath">The Docker engine's unix socket.</param>
    /// <param name="tls">When given, every connection must speak TLS and present a client certificate issued by its CA.</param>
    public static EngineForwarder Start(string unixSocketPath, EngineForwarderTls? tls = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(unixSocketPath);
        var forwarder = new EngineForwarder(unixSocketPath, tls);
        var listener = Listen(new IPEndPoint(IPAddress.Loopback, 0));
        forwarder.Port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        lock (forwarder._gate)
        {
            forwarder._listener = listener;
            forwarder.Track(Task.Run(() => forwarder.AcceptLoopAsync(listener)));
        }

        return forwarder;
    }

    /// <summary>
    /// Arms a trigger: when the client-to-engine bytes of a connection first match <paramref name="requestPattern"/>
    /// (a regular expression over the bytes read as Latin1, e.g. <c>POST /v[0-9.]+/containers/[0-9a-f]+/start</c>),
    /// the forwarder cuts <paramref name="delay"/> later. The matching bytes still reach the engine.
    /// </summary>
    public void CutAfter(string requestPattern, TimeSpan delay)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestPattern);
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        var regex = new Regex(requestPattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_isDisposed, this);
            _trigger = regex;
            _triggerDelay = delay;
        }
    }

    /// <summary>Cuts now: closes every open connection and stops listening, so new connections are refused.</summary>
    public void Cut()
    {
        Socket? listener;
        Connection[] open;
        TaskCompletionSource cut;
        lock (_gate)
        {
            if (_isDisposed || _isCut)
            {
                return;
            }

            _isCut = true;
            listener = _listener;
            _listener = null;
            open = [.. _connections];
            cut = _cut;
        }

        listener?.Dispose();
        foreach (var connection in open)
        {
            connection.Close(abort: true);
        }

        cut.TrySetResult();
    }

    /// <summary>Completes when the forwarder is cut (at once when it already is).</summary>
    /// <exception cref="TimeoutException">The forwarder was not cut within <paramref name="timeout"/>.</exception>
    public async Task WaitCutAsync(TimeSpan timeout)
    {
        Task cut;
        lock (_gate)
        {
            cut = _cut.Task;
        }

        try
        {
            await cut.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The engine forwarder on port {Port} was not cut within {timeout}.");
        }
    }

    /// <summary>
    /// Disarms the trigger (and a cut it has scheduled) and, when cut, listens again on the same port,
    /// retrying the bind for a few seconds.
    /// </summary>
    public void Resume()
    {
        lock (_resumeGate)
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_isDisposed, this);
                _trigger = null;
                _generation++;
                if (!_isCut)
                {
                    return;
                }
            }

            var listener = ListenAgain(Port);
            lock (_gate)
            {
                if (_isDisposed)
                {
                    listener.Dispose();
                    throw new ObjectDisposedException(nameof(EngineForwarder));
                }

                _listener = listener;
                _isCut = false;
                _cut = NewCutSource();
                Track(Task.Run(() => AcceptLoopAsync(listener)));
            }
        }
    }

    /// <summary>Stops listening, closes every connection and waits for the pumps to end.</summary>
    public async ValueTask DisposeAsync()
    {
        Socket? listener;
        Connection[] open;
        lock (_gate)
        {
            if (_isDisposed)
            {
                return;
            }

            _isDisposed = true;
            _trigger = null;
            listener = _listener;
            _listener = null;
            open = [.. _connections];
        }

        await _stop.CancelAsync();
        listener?.Dispose();
        foreach (var connection in open)
        {
            connection.Close(abort: true);
        }

        Task[] tasks;
        lock (_gate)
        {
            tasks = [.. _tasks];
        }

        try
        {
            await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(30));
            _stop.Dispose();
        }
        catch (TimeoutException)
        {
            await Console.Error.WriteLineAsync($"EngineForwarder on port {Port}: connections did not end within 30 s of dispose.");
        }
    }

    private static TaskCompletionSource NewCutSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static Socket Listen(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endPoint);
            socket.Listen(128);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static Socket ListenAgain(int port)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (true)
        {
            try
            {
                return Listen(new IPEndPoint(IPAddress.Loopback, port));
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(100);
            }
            catch (SocketException e)
            {
                throw new InvalidOperationException($"Cannot listen on 127.0.0.1:{port} again: {e.Message}", e);
            }
        }
    }

    private static bool IsConnectionError(Exception e) =>
        e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or AuthenticationException;

    /// <summary>Remembers a background task for dispose; called under <see cref="_gate"/>.</summary>
    private void Track(Task task)
    {
        _tasks.RemoveAll(t => t.IsCompleted);
        _tasks.Add(task);
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stopToken);
            }
            catch (Exception e) when (IsConnectionError(e))
            {
                lock (_gate)
                {
                    if (!ReferenceEquals(_listener, listener) || _isDisposed)
                    {
                        return;
                    }
                }

                if (e is SocketException { SocketErrorCode: SocketError.ConnectionAborted or SocketError.ConnectionReset or SocketError.Interrupted })
                {
                    continue;
                }

                await Console.Error.WriteLineAsync($"EngineForwarder on port {Port}: accept failed: {e}");
                await Task.Delay(100, CancellationToken.None);
                continue;
            }

            var connection = new Connection(client);
            lock (_gate)
            {
                if (_isDisposed || _isCut || !ReferenceEquals(_listener, listener))
                {
                    connection.Close(abort: true);
                    continue;
                }

                _connections.Add(connection);
                Track(Task.Run(() => HandleAsync(connection)));
            }
        }
    }

    private async Task HandleAsync(Connection connection)
    {
        Stream? client = null;
        try
        {
            connection.Client.NoDelay = true;
            client = new NetworkStream(connection.Client, ownsSocket: false);
            if (_tls is { } tls)
            {
                var ssl = new SslStream(client, leaveInnerStreamOpen: false);
                client = ssl;
                using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stopToken);
                handshake.CancelAfter(TimeSpan.FromSeconds(30));
                await ssl.AuthenticateAsServerAsync(
                    new SslServerAuthenticationOptions
                    {
                        ServerCertificate = tls.ServerCertificate,
                        ClientCertificateRequired = true,
                        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                        RemoteCertificateValidationCallback = (_, certificate, _, _) => IsTrustedClient(tls, certificate),
                    },
                    handshake.Token);
            }

            await connection.Engine.ConnectAsync(new UnixDomainSocketEndPoint(_socketPath), _stopToken);
            await using var engine = new NetworkStream(connection.Engine, ownsSocket: false);
            var up = PumpAsync(client, engine, connection, toEngine: true);
            var down = PumpAsync(engine, client, connection, toEngine: false);
            await Task.WhenAll(up, down);
        }
        catch (Exception e) when (IsConnectionError(e))
        {
            // The client went away, failed the handshake, the engine is down, or the forwarder was cut.
        }
        catch (Exception e)
        {
            await Console.Error.WriteLineAsync($"EngineForwarder on port {Port}: connection failed unexpectedly: {e}");
        }
        finally
        {
            connection.Close(abort: false);
            if (client is not null)
            {
                try
                {
                    await client.DisposeAsync();
                }
                catch (Exception e) when (IsConnectionError(e))
                {
                    // already closed
                }
            }

            lock (_gate)
            {
                _connections.Remove(connection);
            }
        }
    }

    private async Task PumpAsync(Stream from, Stream to, Connection connection, bool toEngine)
    {
        var buffer = new byte[BufferSize];
        var window = "";
        try
        {
            while (true)
            {
                var read = await from.ReadAsync(buffer, _stopToken);
                if (read == 0)
                {
                    break;
                }

                await to.WriteAsync(buffer.AsMemory(0, read), _stopToken);
                if (toEngine)
                {
                    window = Inspect(buffer, read, window);
                }
            }

            // Pass the half-close on; the connection ends when both directions have.
            if (toEngine)
            {
                connection.Engine.Shutdown(SocketShutdown.Send);
            }
            else
            {
                if (to is SslStream ssl)
                {
                    await ssl.ShutdownAsync();
                }

                connection.Client.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception e) when (IsConnectionError(e))
        {
            connection.Close(abort: false);
        }
        catch (Exception e)
        {
            connection.Close(abort: false);
            await Console.Error.WriteLineAsync($"EngineForwarder on port {Port}: pump failed unexpectedly: {e}");
        }
    }

    /// <summary>Matches the armed trigger against the bytes just forwarded (plus the tail of the previous chunk).</summary>
    private string Inspect(byte[] buffer, int count, string window)
    {
        Regex? trigger;
        lock (_gate)
        {
            trigger = _trigger;
        }

        if (trigger is null)
        {
            return "";
        }

        var text = window + Encoding.Latin1.GetString(buffer, 0, count);
        if (trigger.IsMatch(text))
        {
            Fire(trigger);
        }

        return text.Length > InspectWindow ? text[^InspectWindow..] : text;
    }

    private void Fire(Regex trigger)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_trigger, trigger) || _isDisposed)
            {
                return;
            }

            _trigger = null;
            var delay = _triggerDelay;
            var generation = _generation;
            Track(Task.Run(() => CutLaterAsync(delay, generation)));
        }
    }

    private async Task CutLaterAsync(TimeSpan delay, long generation)
    {
        try
        {
            await Task.Delay(delay, _stopToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        lock (_gate)
        {
            if (_generation != generation)
            {
                return;
            }
        }

        Cut();
    }

    private static bool IsTrustedClient(EngineForwarderTls tls, X509Certificate? certificate)
    {
        if (certificate is null)
        {
            return false;
        }

        var owned = certificate is not X509Certificate2;
        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        try
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(tls.CertificateAuthority);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.ApplicationPolicy.Add(new Oid(TestCertificates.ClientAuthenticationOid));
            if (!chain.Build(leaf))
            {
                return false;
            }

            var root = chain.ChainElements[^1].Certificate;
            return root.RawDataMemory.Span.SequenceEqual(tls.CertificateAuthority.RawDataMemory.Span);
        }
        finally
        {
            if (owned)
            {
                leaf.Dispose();
            }
        }
    }

    /// <summary>One forwarded connection: the accepted client socket and the engine socket.</summary>
    private sealed class Connection(Socket client)
    {
        private int _closed;

        public Socket Client { get; } = client;

        public Socket Engine { get; } = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);

        /// <summary>Closes both sides; <paramref name="abort"/> resets the client side instead of a graceful close.</summary>
        public void Close(bool abort)
        {
            if (Interlocked.Exchange(ref _closed, 1) == 1)
            {
                return;
            }

            if (abort)
            {
                try
                {
                    Client.LingerState = new LingerOption(true, 0);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // already gone
                }
            }

            Client.Dispose();
            Engine.Dispose();
        }
    }
}

/// <summary>The TLS material of an <see cref="EngineForwarder"/>.</summary>
/// <param name="CertificateAuthority">The CA that client certificates must chain to.</param>
/// <param name="ServerCertificate">The forwarder's certificate, with its private key.</param>
public sealed record EngineForwarderTls(X509Certificate2 CertificateAuthority, X509Certificate2 ServerCertificate);

/// <summary>Throw-away certificates for mutual TLS in tests, made with System.Security.Cryptography only.</summary>
public static class TestCertificates
{
    /// <summary>The extended key usage OID of TLS server authentication.</summary>
    public const string ServerAuthenticationOid = "1.3.6.1.5.5.7.3.1";

    /// <summary>The extended key usage OID of TLS client authentication.</summary>
    public const string ClientAuthenticationOid = "1.3.6.1.5.5.7.3.2";

    /// <summary>
    /// Creates a CA, a server certificate for 127.0.0.1/localhost and a client certificate (ECDSA P-256);
    /// writes ca.pem, cert.pem and key.pem (the client's, as Docker expects them) into
    /// <paramref name="clientCertDirectory"/> and returns what an <see cref="EngineForwarder"/> needs.
    /// </summary>
    public static EngineForwarderTls CreateForwarderTls(string clientCertDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(clientCertDirectory);
        Directory.CreateDirectory(clientCertDirectory);
        var notBefore = DateTimeOffset.UtcNow.AddDays(-1);

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Immutable.Build test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(notBefore.AddDays(-1), notBefore.AddDays(365));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = LeafRequest("CN=127.0.0.1", serverKey, ca, ServerAuthenticationOid);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        serverRequest.CertificateExtensions.Add(names.Build());
        using var serverPublic = serverRequest.Create(ca, notBefore, notBefore.AddDays(30), SerialNumber());
        using var serverEphemeral = serverPublic.CopyWithPrivateKey(serverKey);

        // A PKCS#12 round trip gives a key that SslStream can use on every platform.
        var server = X509CertificateLoader.LoadPkcs12(serverEphemeral.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);

        using var clientKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var clientRequest = LeafRequest("CN=Immutable.Build test client", clientKey, ca, ClientAuthenticationOid);
        using var client = clientRequest.Create(ca, notBefore, notBefore.AddDays(30), SerialNumber());

        File.WriteAllText(Path.Combine(clientCertDirectory, "ca.pem"), ca.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(clientCertDirectory, "cert.pem"), client.ExportCertificatePem() + "\n");
        var keyPath = Path.Combine(clientCertDirectory, "key.pem");
        File.WriteAllText(keyPath, clientKey.ExportPkcs8PrivateKeyPem() + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return new EngineForwarderTls(X509CertificateLoader.LoadCertificate(ca.RawData), server);
    }

    private static CertificateRequest LeafRequest(string subject, ECDsa key, X509Certificate2 issuer, string usage)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        return request;
    }

    private static byte[] SerialNumber()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        return serial;
    }
}
