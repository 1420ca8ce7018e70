using System.Formats.Tar;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;
using Immutable.Build.Images;
using Immutable.Build.Registry;
using Immutable.Build.Targets;

namespace Immutable.Build.Docker;

/// <summary>
/// A host's release images: pulled by digest from the registry (or loaded from the release's OCI layout) under a
/// local name that holds the digest, and pruned when no kept release and no container needs them.
/// </summary>
internal sealed class DockerImages(DockerCalls calls)
{
    private string Name => calls.Name;

    private IDockerClient Client => calls.Client;

    /// <summary>The local name a release's image gets on the host: the digest is in the tag, so it never moves.</summary>
    public static string ReleaseImageName(DeploymentScope scope, Digest digest) => $"{ReleaseRepository(scope)}:{digest.Hex}";

    private static string ReleaseRepository(DeploymentScope scope) => $"immutable-release/{DockerLabels.Safe(scope.App)}";

    /// <summary>The release's image on the host, pulled or loaded when it is not there yet; returns its local name.</summary>
    public async Task<string> EnsureAsync(DeploymentScope scope, ReleaseRef release, Digest digest, CancellationToken ct)
    {
        var name = ReleaseImageName(scope, digest);
        if (await ExistsAsync(name, ct))
        {
            return name;
        }

        var repository = ReleaseRepository(scope);
        if (release.ImageSource.StartsWith("oci:", StringComparison.Ordinal))
        {
            await LoadFromLayoutAsync(release.ImageSource[4..], digest, name, ct);
            calls.Options.Log($"{Name}: loaded {release.ReleaseId} ({digest}) from the OCI layout {release.ImageSource[4..]}");
        }
        else
        {
            var reference = ImageReference.Parse(release.ImageSource);
            var registry = reference.Registry ?? ImageReference.DockerHub;
            var from = $"{(reference.Registry is null ? "" : reference.Registry + "/")}{reference.Repository}";
            var credential = await new RegistryCredentials(calls.Options.GetEnvironmentVariable).ResolveAsync(registry, ct);
            var auth = credential is null ? new AuthConfig() : new AuthConfig
            {
                ServerAddress = registry,
                Username = credential.IdentityToken is null ? credential.Username : null,
                Password = credential.IdentityToken is null ? credential.Password : null,
                IdentityToken = credential.IdentityToken,
            };
            string? error = null;
            var progress = new Progress<JSONMessage>(m => error = m.Error?.Message ?? error);
            try
            {
                await Client.Images.CreateImageAsync(new ImagesCreateParameters { FromImage = from, Tag = digest.Value }, auth, progress, ct);
            }
            catch (DockerApiException e)
            {
                // The engine answered: the registry refused or failed the pull (not found, unauthorized, unreachable from the host).
                throw DockerErrors.Image(Name, $"{from}@{digest}", $"{(int)e.StatusCode} {e.ResponseBody?.Trim()}");
            }
            catch (Exception e) when (DockerCalls.IsHostFailure(e))
            {
                throw DockerErrors.Host(Name, $"pull {from}@{digest}", e);
            }

            if (!await ExistsAsync($"{from}@{digest}", ct))
            {
                throw DockerErrors.Image(Name, $"{from}@{digest}", error ?? "the engine reported no image after the pull");
            }

            await calls.Call("tag image", () => Client.Images.TagImageAsync($"{from}@{digest}", new ImageTagParameters { RepositoryName = repository, Tag = digest.Hex }, ct));
            calls.Options.Log($"{Name}: pulled {release.ReleaseId} as {from}@{digest}");
        }

        return name;
    }

    /// <summary>Any release image of the app on the host (a proxy can run from any of them); null when there is none.</summary>
    public async Task<string?> AnyReleaseImageAsync(DeploymentScope scope, CancellationToken ct)
    {
        var images = await NamedAsync(ReleaseRepository(scope), ct);
        return images.SelectMany(i => i.RepoTags ?? []).FirstOrDefault();
    }

    /// <summary>Removes the app's release images whose digest is not kept (<paramref name="keepHexes"/>) and that no container uses (<paramref name="inUse"/>: image ids).</summary>
    public async Task PruneReleasesAsync(DeploymentScope scope, IReadOnlySet<string> keepHexes, IReadOnlySet<string> inUse, CancellationToken ct)
    {
        var images = await NamedAsync(ReleaseRepository(scope), ct);
        var repository = ReleaseRepository(scope);
        foreach (var image in images)
        {
            // Only the release names this target gave (Podman lists pulled-by-digest names among the tags, and may prefix docker.io/).
            foreach (var tag in (image.RepoTags ?? []).Where(t => !t.Contains('@', StringComparison.Ordinal) && (t.StartsWith(repository + ":", StringComparison.Ordinal) || t.StartsWith($"docker.io/{repository}:", StringComparison.Ordinal))))
            {
                var hex = tag[(tag.LastIndexOf(':') + 1)..];
                if (keepHexes.Contains(hex) || inUse.Contains(image.ID))
                {
                    continue;
                }

                // The release tag, then the registry reference it was pulled by: with both gone the image is.
                await calls.Call("remove image", () => DeleteAsync(tag, ct));
                foreach (var pulled in (image.RepoDigests ?? []).Where(r => r.EndsWith("@sha256:" + hex, StringComparison.Ordinal)))
                {
                    await DockerCalls.TryAsync(() => DeleteAsync(pulled, ct));
                }

                calls.Options.Log($"{Name}: removed image {tag}");
            }
        }
    }

    public async Task<IList<ImagesListResponse>> NamedAsync(string repository, CancellationToken ct) =>
        await calls.Call("list images", () => Client.Images.ListImagesAsync(new ImagesListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["reference"] = new Dictionary<string, bool> { [repository] = true } },
        }, ct));

    public async Task<bool> ExistsAsync(string name, CancellationToken ct)
    {
        try
        {
            await Client.Images.InspectImageAsync(name, ct);
            return true;
        }
        catch (DockerImageNotFoundException)
        {
            return false;
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
        catch (Exception e) when (DockerCalls.IsHostFailure(e))
        {
            throw DockerErrors.Host(Name, "inspect image", e);
        }
    }

    /// <summary>Removes an image reference; one already gone is what was wanted.</summary>
    public async Task DeleteAsync(string reference, CancellationToken ct)
    {
        try
        {
            await Client.Images.DeleteImageAsync(reference, new ImageDeleteParameters(), ct);
        }
        catch (DockerImageNotFoundException)
        {
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
        }
    }

    /// <summary>Streams the layout's image to the engine as a docker-archive (the engine of Docker 20.10 loads no OCI archives).</summary>
    private async Task LoadFromLayoutAsync(string layout, Digest digest, string name, CancellationToken ct)
    {
        string Blob(string d) => Path.Combine(layout, "blobs", "sha256", Digest.Parse(d).Hex);
        if (!File.Exists(Blob(digest.Value)))
        {
            throw DockerErrors.Image(Name, name, $"the OCI layout {layout} holds no manifest {digest}; publish the release again");
        }

        var manifest = ImageJson.ParseManifest(await File.ReadAllBytesAsync(Blob(digest.Value), ct), $"The manifest {digest} in {layout}");
        var temp = Path.Combine(Path.GetTempPath(), $"immutable-load-{Guid.NewGuid():N}.tar");
        try
        {
            await using (var file = File.Create(temp))
            await using (var tar = new TarWriter(file, TarEntryFormat.Pax, leaveOpen: false))
            {
                var config = $"{Digest.Parse(manifest.Config.Digest).Hex}.json";
                var layers = manifest.Layers.Select(l => $"{Digest.Parse(l.Digest).Hex}/layer.tar").ToList();
                var json = new MemoryStream();
                using (var writer = new Utf8JsonWriter(json))
                {
                    writer.WriteStartArray();
                    writer.WriteStartObject();
                    writer.WriteString("Config", config);
                    writer.WriteStartArray("RepoTags");
                    writer.WriteStringValue(name);
                    writer.WriteEndArray();
                    writer.WriteStartArray("Layers");
                    layers.ForEach(writer.WriteStringValue);
                    writer.WriteEndArray();
                    writer.WriteEndObject();
                    writer.WriteEndArray();
                }

                await tar.WriteEntryAsync(DockerFiles.Entry("manifest.json", new MemoryStream(json.ToArray()), DateTimeOffset.UnixEpoch), ct);
                await using (var configStream = File.OpenRead(Blob(manifest.Config.Digest)))
                {
                    await tar.WriteEntryAsync(DockerFiles.Entry(config, configStream, DateTimeOffset.UnixEpoch), ct);
                }

                for (var i = 0; i < layers.Count; i++)
                {
                    // The engine decompresses gzip layers itself.
                    await using var layer = File.OpenRead(Blob(manifest.Layers[i].Digest));
                    await tar.WriteEntryAsync(DockerFiles.Entry(layers[i], layer, DateTimeOffset.UnixEpoch), ct);
                }
            }

            await using var archive = File.OpenRead(temp);
            string? error = null;
            await calls.Call("load image", () => Client.Images.LoadImageAsync(new ImageLoadParameters { Quiet = true }, archive, new Progress<JSONMessage>(m => error = m.Error?.Message ?? error), ct));
            if (!await ExistsAsync(name, ct))
            {
                throw DockerErrors.Image(Name, name, error ?? "the engine reported no image after the load");
            }
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
