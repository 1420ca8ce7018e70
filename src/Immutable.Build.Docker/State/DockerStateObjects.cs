using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;
using Immutable.Build.Images;
using Immutable.Build.State;

namespace Immutable.Build.Docker.State;

/// <summary>
/// Conditional objects on a Docker host. The Engine API has no conditional write, but container names are unique on
/// a daemon: creating a name that is taken answers 409. So version n of an object is a created, never started
/// container <c>immutable-state-&lt;object&gt;-&lt;n&gt;</c> that carries the content in a label, and writing on
/// version n means creating version n+1, which exactly one of any number of racing writers does.
/// </summary>
/// <remarks>
/// Superseded versions are removed, which frees their names: a writer that read version n long ago could then
/// create n+1 again although n+3 is current (ABA), and would believe it wrote. So every version names the container
/// it replaced (its parent), and a writer looks again right after its create: when a version above its own exists
/// that was not built on it, it was late, removes its container and reports the lost race. A version is only removed
/// once something newer has existed for <see cref="SupersededFor"/> (daemon clock), so a writer that is not late
/// still finds its successor when it looks; one whose look took too long to tell fails instead of guessing.
/// The highest version is never removed, so readers, who take the highest, never see a late writer's container.
/// </remarks>
internal sealed class DockerStateObjects : IConditionalObjects
{
    /// <summary>The image every object container is created from (never started).</summary>
    public const string ImageName = "immutable-state:1";

    /// <summary>On every object container: what the target's sweeps and `docker ps --filter` can tell them by.</summary>
    public const string StateLabel = "immutable.state";

    /// <summary>The store (a hash of <see cref="Location"/>), so two stores on one host never see each other's keys.</summary>
    public const string StoreLabel = "immutable.state.store";

    /// <summary>The object (a hash of location and key), what a read filters on.</summary>
    public const string ObjectLabel = "immutable.state.object";

    /// <summary>The object's key as the store names it.</summary>
    public const string KeyLabel = "immutable.state.key";

    /// <summary>The version number.</summary>
    public const string VersionLabel = "immutable.state.version";

    /// <summary>The short id of the version this one replaced; empty for version 1.</summary>
    public const string ParentLabel = "immutable.state.parent";

    /// <summary>The content, base64 (a torn or binary line survives as it was written).</summary>
    public const string ContentLabel = "immutable.state.content";

    private const string NamePrefix = "immutable-state-";
    private readonly IDockerClient _client;
    private readonly string _store;
    private readonly SemaphoreSlim _imageGate = new(1, 1);
    private bool _imageReady;

    /// <summary>Objects on the host <paramref name="client"/> talks to, which this instance disposes.</summary>
    /// <param name="client">The host's Engine API client.</param>
    /// <param name="location">How the store is named, e.g. <c>docker://unix:///var/run/docker.sock</c>; part of every object's identity.</param>
    public DockerStateObjects(IDockerClient client, string location)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrWhiteSpace(location);
        _client = client;
        Location = location;
        _store = Hash(location)[..12];
    }

    /// <inheritdoc />
    public string Location { get; }

    /// <summary>How long a superseded version stays, so a writer looking right after its create can see who built on it.</summary>
    public TimeSpan SupersededFor { get; init; } = TimeSpan.FromSeconds(30);

    /// <inheritdoc />
    public async Task<VersionedObject?> ReadAsync(string key, CancellationToken cancellationToken)
    {
        var versions = await VersionsAsync(ObjectId(key), cancellationToken);
        if (versions.Count == 0)
        {
            return null;
        }

        var current = versions[^1];
        return new VersionedObject(Convert.FromBase64String(current.Content), current.Token);
    }

    /// <inheritdoc />
    public async Task<string?> TryWriteAsync(string key, ReadOnlyMemory<byte> content, string? expectedVersion, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var (expected, parent) = expectedVersion is null ? (0, "") : ParseToken(expectedVersion);
        var id = ObjectId(key);
        var number = expected + 1;
        await EnsureImageAsync(cancellationToken);
        var clock = Stopwatch.StartNew();
        CreateContainerResponse created;
        try
        {
            created = await _client.Containers.CreateContainerAsync(new CreateContainerParameters
            {
                Name = $"{NamePrefix}{id}-{number.ToString(CultureInfo.InvariantCulture)}",
                Image = ImageName,
                NetworkDisabled = true,
                Labels = new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    [StateLabel] = "1",
                    [StoreLabel] = _store,
                    [ObjectLabel] = id,
                    [KeyLabel] = key,
                    [VersionLabel] = number.ToString(CultureInfo.InvariantCulture),
                    [ParentLabel] = parent,
                    [ContentLabel] = Convert.ToBase64String(content.Span),
                },
                HostConfig = new HostConfig { NetworkMode = "none" },
            }, cancellationToken);
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.Conflict)
        {
            return null;
        }

        var mine = Short(created.ID);
        var versions = await VersionsAsync(id, cancellationToken);
        var elapsed = clock.Elapsed;
        if (versions.Any(v => v.Number > number))
        {
            var successor = versions.FirstOrDefault(v => v.Number == number + 1);
            if (successor is null || successor.Parent != mine)
            {
                if (successor is null && elapsed >= SupersededFor / 2)
                {
                    // Its successor may have been built on it and removed since: leave the container, it is either current history or removed as superseded later.
                    throw new TimeoutException($"the write of {key} took {elapsed.TotalSeconds:0}s, too long to tell whether it landed; read it again");
                }

                // Late: the name was free only because version n+1 had been superseded and removed.
                await RemoveAsync(created.ID, cancellationToken);
                return null;
            }
        }

        await PruneAsync(versions, versions.FirstOrDefault(v => v.Short == mine), cancellationToken);
        return Token(number, mine);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellationToken)
    {
        var containers = await _client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{StateLabel}=1"] = true, [$"{StoreLabel}={_store}"] = true } },
        }, cancellationToken);
        return containers.Select(c => Label(c, KeyLabel)).OfType<string>().Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _client.Dispose();
        _imageGate.Dispose();
    }

    /// <summary>The docker-archive of <see cref="ImageName"/>: a config whose Cmd lets a container be created, and one empty layer.</summary>
    internal static async Task<byte[]> ImageArchiveAsync(string architecture, string os, CancellationToken ct)
    {
        using var emptyLayer = new MemoryStream();
        await new DeterministicTarWriter(DateTimeOffset.UnixEpoch).WriteToAsync(emptyLayer, ct);
        var layer = emptyLayer.ToArray();
        var diffId = "sha256:" + Convert.ToHexString(SHA256.HashData(layer)).ToLowerInvariant();
        var config = Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("architecture", architecture);
            w.WriteString("os", os);
            w.WriteStartObject("config");
            w.WriteStartArray("Cmd");
            w.WriteStringValue("/immutable-state");
            w.WriteEndArray();
            w.WriteStartObject("Labels");
            w.WriteString(StateLabel, "image");
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("rootfs");
            w.WriteString("type", "layers");
            w.WriteStartArray("diff_ids");
            w.WriteStringValue(diffId);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        });
        var configName = Convert.ToHexString(SHA256.HashData(config)).ToLowerInvariant() + ".json";
        var layerName = diffId["sha256:".Length..] + "/layer.tar";
        var manifest = Json(w =>
        {
            w.WriteStartArray();
            w.WriteStartObject();
            w.WriteString("Config", configName);
            w.WriteStartArray("RepoTags");
            w.WriteStringValue(ImageName);
            w.WriteEndArray();
            w.WriteStartArray("Layers");
            w.WriteStringValue(layerName);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
        });
        var archive = new DeterministicTarWriter(DateTimeOffset.UnixEpoch)
            .Add(TarEntry.FromBytes("manifest.json", manifest))
            .Add(TarEntry.FromBytes(configName, config))
            .Add(TarEntry.FromBytes(layerName, layer));
        using var output = new MemoryStream();
        await archive.WriteToAsync(output, ct);
        return output.ToArray();
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        return buffer.ToArray();
    }

    private async Task EnsureImageAsync(CancellationToken ct)
    {
        if (_imageReady)
        {
            return;
        }

        await _imageGate.WaitAsync(ct);
        try
        {
            if (!_imageReady && !await ImageExistsAsync(ct))
            {
                // Built for the engine's own platform, so it never warns about a mismatch; it is never run either way.
                var version = await _client.System.GetVersionAsync(ct);
                var archive = await ImageArchiveAsync(string.IsNullOrEmpty(version.Arch) ? "amd64" : version.Arch, string.IsNullOrEmpty(version.Os) ? "linux" : version.Os, ct);
                string? error = null;
                using var stream = new MemoryStream(archive);
                await _client.Images.LoadImageAsync(new ImageLoadParameters { Quiet = true }, stream, new Progress<JSONMessage>(m => error = m.Error?.Message ?? error), ct);
                if (!await ImageExistsAsync(ct))
                {
                    throw new InvalidOperationException($"the engine did not load the image {ImageName}{(error is null ? "" : $": {error}")}");
                }
            }

            _imageReady = true;
        }
        finally
        {
            _imageGate.Release();
        }
    }

    private async Task<bool> ImageExistsAsync(CancellationToken ct)
    {
        try
        {
            await _client.Images.InspectImageAsync(ImageName, ct);
            return true;
        }
        catch (DockerImageNotFoundException)
        {
            return false;
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    /// <summary>The object's versions, lowest first.</summary>
    private async Task<List<StoredVersion>> VersionsAsync(string objectId, CancellationToken ct)
    {
        var containers = await _client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{ObjectLabel}={objectId}"] = true } },
        }, ct);
        var versions = new List<StoredVersion>();
        foreach (var c in containers)
        {
            if (int.TryParse(Label(c, VersionLabel), NumberStyles.None, CultureInfo.InvariantCulture, out var number) && Label(c, StoreLabel) == _store)
            {
                versions.Add(new StoredVersion(number, Short(c.ID), c.ID, Label(c, ParentLabel) ?? "", Label(c, ContentLabel) ?? "", c.Created));
            }
        }

        versions.Sort((a, b) => a.Number.CompareTo(b.Number));
        return versions;
    }

    /// <summary>Removes the versions below <paramref name="mine"/> that something newer has superseded for long enough; best effort.</summary>
    private async Task PruneAsync(List<StoredVersion> versions, StoredVersion? mine, CancellationToken ct)
    {
        if (mine is null)
        {
            return;
        }

        var old = versions
            .Where(v => v.Number < mine.Number && versions.Where(w => w.Number > v.Number).Min(w => w.Created) + SupersededFor <= mine.Created)
            .ToList();
        await Task.WhenAll(old.Select(async v =>
        {
            try
            {
                await RemoveAsync(v.Id, ct);
            }
            catch (Exception e) when (DockerCalls.IsHostFailure(e))
            {
                // The next write removes it.
            }
        }));
    }

    private async Task RemoveAsync(string id, CancellationToken ct)
    {
        try
        {
            await _client.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true }, ct);
        }
        catch (DockerContainerNotFoundException)
        {
        }
        catch (DockerApiException e) when (e.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Conflict)
        {
            // Gone, or already being removed by another writer's prune.
        }
    }

    private string ObjectId(string key) => Hash(Location + "\n" + key)[..20];

    private static string Hash(string value) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(value))).ToLowerInvariant();

    private static string Short(string id) => id.Length > 12 ? id[..12] : id;

    private static string? Label(ContainerListResponse c, string key) => c.Labels is { } labels && labels.TryGetValue(key, out var value) ? value : null;

    /// <summary>The version a conditional write names: the number and the container that holds it, so a successor records which container it was built on.</summary>
    private static string Token(int number, string container) => $"{number.ToString(CultureInfo.InvariantCulture)}.{container}";

    private static (int Number, string Container) ParseToken(string token)
    {
        var dot = token.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && int.TryParse(token.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
            ? (number, token[(dot + 1)..])
            : throw new ArgumentException($"'{token}' is not a version of a Docker state object.", nameof(token));
    }

    private sealed record StoredVersion(int Number, string Short, string Id, string Parent, string Content, DateTime Created)
    {
        public string Token => DockerStateObjects.Token(Number, Short);
    }
}
