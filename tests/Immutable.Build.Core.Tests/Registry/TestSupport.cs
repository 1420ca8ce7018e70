using System.Collections.Concurrent;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Immutable.Build.Images;
using Immutable.Build.Registry;

[assembly: AssemblyFixture(typeof(RegistryFixture))]

namespace Immutable.Build.Core.Tests.Registry;

/// <summary>A tiny but real image: one gzip tar layer, an OCI config and an OCI manifest.</summary>
internal sealed record TestImage(ImageContent Content, byte[] ConfigBytes, IReadOnlyList<byte[]> LayerBytes)
{
    public Digest Digest => Content.Digest;

    public IEnumerable<Digest> BlobDigests => new[] { Content.Config }.Concat(Content.Layers).Select(b => Digest.Parse(b.Descriptor.Digest));

    /// <summary>A new image with its own random content (so its blobs are new to any registry).</summary>
    public static TestImage Create(int layerBytes = 512, int layers = 1)
    {
        var layerContents = Enumerable.Range(0, layers).Select(_ => Layer(RandomNumberGenerator.GetBytes(layerBytes))).ToList();
        return Assemble(layerContents, layerContents.Select(l => (l.Gzip, (string?)null, true)).ToList());
    }

    /// <summary>An image whose layers are given (e.g. reused from another image, with a mount source).</summary>
    public static TestImage WithLayers(IReadOnlyList<(byte[] Tar, byte[] Gzip)> layers, string? sourceRepository, bool withContent)
        => Assemble(layers, layers.Select(l => (l.Gzip, sourceRepository, withContent)).ToList());

    public static (byte[] Tar, byte[] Gzip) Layer(byte[] fileContent)
    {
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, "app/data.bin")
            {
                DataStream = new MemoryStream(fileContent),
                ModificationTime = DateTimeOffset.UnixEpoch,
                Mode = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            };
            writer.WriteEntry(entry);
        }

        using var gz = new MemoryStream();
        using (var zip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            zip.Write(tar.ToArray());
        }

        return (tar.ToArray(), gz.ToArray());
    }

    private static TestImage Assemble(IReadOnlyList<(byte[] Tar, byte[] Gzip)> layers, IReadOnlyList<(byte[] Gzip, string? Source, bool WithContent)> blobs)
    {
        var config = Json(w =>
        {
            w.WriteString("architecture", "amd64");
            w.WriteString("os", "linux");
            w.WriteStartObject("config");
            w.WriteString("Env", Guid.NewGuid().ToString("N"));
            w.WriteEndObject();
            w.WriteStartObject("rootfs");
            w.WriteString("type", "layers");
            w.WriteStartArray("diff_ids");
            foreach (var (tar, _) in layers)
            {
                w.WriteStringValue(Digest.Of(tar).Value);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
        var configDescriptor = new Descriptor(MediaTypes.OciConfig, Digest.Of(config).Value, config.Length);
        var layerBlobs = blobs.Select(b => new BlobContent(
            new Descriptor(MediaTypes.OciLayerGzip, Digest.Of(b.Gzip).Value, b.Gzip.Length),
            b.WithContent ? () => new MemoryStream(b.Gzip) : null,
            b.Source)).ToList();
        var manifest = Json(w =>
        {
            w.WriteNumber("schemaVersion", 2);
            w.WriteString("mediaType", MediaTypes.OciManifest);
            WriteDescriptor(w, "config", configDescriptor);
            w.WriteStartArray("layers");
            foreach (var layer in layerBlobs)
            {
                WriteDescriptor(w, null, layer.Descriptor);
            }

            w.WriteEndArray();
        });
        var content = new ImageContent(manifest, MediaTypes.OciManifest, new BlobContent(configDescriptor, () => new MemoryStream(config)), layerBlobs);
        return new TestImage(content, config, blobs.Select(b => b.Gzip).ToList());
    }

    private static void WriteDescriptor(Utf8JsonWriter w, string? name, Descriptor d)
    {
        if (name is null)
        {
            w.WriteStartObject();
        }
        else
        {
            w.WriteStartObject(name);
        }

        w.WriteString("mediaType", d.MediaType);
        w.WriteString("digest", d.Digest);
        w.WriteNumber("size", d.Size);
        w.WriteEndObject();
    }

    private static byte[] Json(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }

        return buffer.ToArray();
    }
}

/// <summary>Records every request that leaves the client, to prove what was (not) written.</summary>
internal sealed class WireLog
{
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly ConcurrentQueue<int> _statuses = new();

    public IReadOnlyList<string> Requests => [.. _requests];

    /// <summary>The status of every answer, in arrival order.</summary>
    public IReadOnlyList<int> Statuses => [.. _statuses];

    /// <summary>Everything but GET and HEAD.</summary>
    public IReadOnlyList<string> Writes => Requests.Where(r => !r.StartsWith("GET ", StringComparison.Ordinal) && !r.StartsWith("HEAD ", StringComparison.Ordinal)).ToList();

    public void Clear()
    {
        _requests.Clear();
        _statuses.Clear();
    }

    public HttpMessageHandler Wrap(HttpMessageHandler inner) => new Recorder(this, inner);

    private sealed class Recorder(WireLog log, HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            log._requests.Enqueue($"{request.Method} {request.RequestUri!.AbsolutePath}");
            var response = await base.SendAsync(request, cancellationToken);
            log._statuses.Enqueue((int)response.StatusCode);
            return response;
        }
    }
}

/// <summary>
/// A clock under test control: waits fire at once (so retry delays cost nothing) while the delays asked for are
/// recorded and the clock moves forward by them. A timer of <see cref="DeadlineFrom"/> or more is a deadline (the
/// per-request timeout, 5 min by default), not a wait: it fires only when <see cref="Advance"/> passes it.
/// </summary>
internal sealed class FakeTime : TimeProvider
{
    private readonly object _gate = new();
    private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly List<TimeSpan> _delays = [];
    private readonly List<(DateTimeOffset Due, Action Fire)> _deadlines = [];

    /// <summary>Timers this long or longer wait for <see cref="Advance"/>; no retry wait in these tests comes near it.</summary>
    public TimeSpan DeadlineFrom { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Deadline timers armed and not yet fired or disposed.</summary>
    public int PendingDeadlines
    {
        get
        {
            lock (_gate)
            {
                return _deadlines.Count;
            }
        }
    }

    public IReadOnlyList<TimeSpan> Delays
    {
        get
        {
            lock (_gate)
            {
                return [.. _delays];
            }
        }
    }

    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate)
        {
            return _now;
        }
    }

    public void Advance(TimeSpan by)
    {
        List<Action> due;
        lock (_gate)
        {
            _now += by;
            due = _deadlines.Where(d => d.Due <= _now).Select(d => d.Fire).ToList();
            _deadlines.RemoveAll(d => d.Due <= _now);
        }

        foreach (var fire in due)
        {
            fire();
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        new FiringTimer(this, callback, state, dueTime);

    private sealed class FiringTimer : ITimer
    {
        private readonly FakeTime _time;
        private readonly TimerCallback _callback;
        private readonly object? _state;

        public FiringTimer(FakeTime time, TimerCallback callback, object? state, TimeSpan dueTime)
        {
            _time = time;
            _callback = callback;
            _state = state;
            Change(dueTime, Timeout.InfiniteTimeSpan);
        }

        private void Fire() => ThreadPool.QueueUserWorkItem(_ => _callback(_state));

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            if (dueTime == Timeout.InfiniteTimeSpan)
            {
                return true;
            }

            lock (_time._gate)
            {
                if (dueTime >= _time.DeadlineFrom)
                {
                    _time._deadlines.Add((_time._now + dueTime, Fire));
                    return true;
                }

                _time._delays.Add(dueTime);
                _time._now += dueTime;
            }

            ThreadPool.QueueUserWorkItem(_ => _callback(_state));
            return true;
        }

        public void Dispose()
        {
            lock (_time._gate)
            {
                _time._deadlines.RemoveAll(d => d.Fire == (Action)Fire);
            }
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>Helpers shared by the registry tests.</summary>
internal static class RegistryTestKit
{
    /// <summary>A repository name no other test uses.</summary>
    public static string NewRepository(string prefix) => $"tests/{prefix}-{Guid.NewGuid().ToString("N")[..10]}";

    /// <summary>Fast retries for tests that exercise them.</summary>
    public static RegistryClientOptions Options(FakeTime? time = null, WireLog? wire = null, List<string>? log = null) => new()
    {
        TimeProvider = time ?? new FakeTime(),
        WrapHandler = wire is null ? null : wire.Wrap,
        Log = log is null ? null : line => { lock (log) { log.Add(line); } },
        // Never read this machine's Docker config or SDK variables by accident.
        Credentials = new RegistryCredentials(_ => null),
        GetEnvironmentVariable = _ => null,
    };

    public static string Basic(string user, string password) =>
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    /// <summary>Every message in an exception chain, its ToString included.</summary>
    public static string Everything(Exception e)
    {
        var text = new StringBuilder();
        for (Exception? current = e; current is not null; current = current.InnerException)
        {
            text.AppendLine(current.Message).AppendLine(current.ToString());
        }

        return text.ToString();
    }
}
