using System.Globalization;
using System.Text.Json;
using Immutable.Build.Images;
using Immutable.Build.Registry;
using Immutable.Build.Versioning;

namespace Immutable.Build.Releases;

/// <summary>
/// The release of one publish with Immutable.Build's engine: source revision, layered reproducible
/// image, tags, output (registry push under the tag guard, or an OCI layout on disk), release.json.
/// Every adapter calls this; none of them holds release logic.
/// </summary>
public static class ReleasePipeline
{
    private static readonly (LayerKind Kind, string Name)[] LayerOrder =
    [
        (LayerKind.Packages, "packages"),
        (LayerKind.ProjectReferences, "project-references"),
        (LayerKind.App, "app"),
    ];

    /// <summary>
    /// File times in the package and project-reference layers. Those layers must not change when only the
    /// app changes, so they cannot carry the commit time; the app layer and the config do.
    /// </summary>
    public static readonly DateTimeOffset DependencyLayerTime = DateTimeOffset.FromUnixTimeSeconds(1);

    /// <summary>
    /// Starts ahead, in the background, what a no-op rerun of the release recorded in <paramref name="layerCacheDirectory"/>
    /// will do first: its fingerprint's serialization, and its registry request to <paramref name="registry"/> (none when
    /// the release went elsewhere), so that the release's own later cost what second ones cost. Never throws and logs
    /// nothing; awaiting it is optional.
    /// </summary>
    public static Task WarmUpRerunAsync(string? layerCacheDirectory, string? registry, IReadOnlyDictionary<string, string?>? environment = null) =>
        ReleaseShortcut.WarmUpAsync(layerCacheDirectory ?? "", registry, environment is null ? Environment.GetEnvironmentVariable : name => environment.GetValueOrDefault(name));

    /// <summary>Runs the release; throws <see cref="ImmutableBuildException"/> with the IMB code on any user-fixable failure.</summary>
    public static async Task<ReleaseResult> RunAsync(ReleaseRequest request, ReleaseLog log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(log);
        var getEnv = EnvironmentReader(request);
        var manifestPath = Path.Combine(request.OutputDirectory, "release.json");
        // Read before it is removed: if the tag guard refuses, the last release's build facts say what changed.
        var previous = TryReadManifest(manifestPath);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        void Phase(string name)
        {
            log.Detail($"{name}: {clock.ElapsedMilliseconds} ms");
            clock.Restart();
        }

        // A failed release must not leave the previous one looking current; an adopted one rewrites it only if it changed.
        void RemoveStaleManifest()
        {
            if (File.Exists(manifestPath))
            {
                File.Delete(manifestPath);
            }
        }

        SourceRevision revision;
        TagPolicy policy;
        ManifestFormat format;
        string? fingerprint;
        try
        {
            revision = SourceRevisionReader.Read(new SourceRevisionOptions(request.ProjectDirectory, request.SourceRevision, request.EnvironmentVariables));
            Phase("read source revision");
            ReleaseSettings.Validate(request.UserTags, request.MovingTags, request.TagPolicy, repository: null);
            ReleaseSettings.ValidateAppName(request.AppName);
            ReleaseSettings.ValidateImage(request);
            policy = ReleaseTags.ParsePolicy(request.TagPolicy);
            format = ParseFormat(request.ImageFormat);
            log.Detail($"source revision {revision.Commit} ({revision.Origin}{(revision.IsDirty ? ", dirty" : "")}), image time {ImageAssembler.FormatTime(revision.CommitTime)}");

            fingerprint = request.ArchiveOutputPath is null ? ReleaseShortcut.Fingerprint(request, revision) : null;
            if (fingerprint is not null && await ReleaseShortcut.TryAdoptAsync(request, fingerprint, manifestPath, getEnv, log, cancellationToken) is { } adopted)
            {
                Phase("adopt the unchanged release");
                return adopted;
            }
        }
        catch
        {
            RemoveStaleManifest();
            throw;
        }

        RemoveStaleManifest();

        // The base image is resolved over the network while the layers are built.
        using var baseClient = BaseRegistryClient(request, getEnv, log);
        using var pushClient = request.Registry is { } pushRegistry ? RegistryClientFor(pushRegistry, getEnv, log) : null;
        var streamed = pushClient is not null && KnownTags(request, revision, policy) is { } known
            ? new StreamedLayerUploads(pushClient, request.Repository, known, log, cancellationToken)
            : null;
        var baseSource = BaseSource(request, baseClient);
        var baseTask = Task.Run(() => baseSource.ResolveAsync(cancellationToken), cancellationToken);
        List<BuiltLayer> layers;
        try
        {
            layers = await BuildLayersAsync(request, revision.CommitTime, streamed, log, cancellationToken);
            Phase("layers");
        }
        catch
        {
            // The first failure is the one reported; the base lookup's own outcome is observed and dropped.
            _ = baseTask.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            throw;
        }

        BaseImage baseImage;
        try
        {
            baseImage = await baseTask;
        }
        catch (ImmutableBuildException e) when (e.Code == RegistryErrors.Unreachable && baseClient is not null)
        {
            // The SDK picks a base image from the internet when the project names none; say how to build without it.
            throw RegistryErrors.Error(
                RegistryErrors.Unreachable,
                $"The base image {baseSource.Name} could not be fetched: {e.Message} Without access to {baseClient.Registry}, set ContainerBaseImage=scratch "
                + "(an image of the app alone, for a self-contained app or the local target) or ImmutableBaseImageLayout=<folder of an OCI image layout that holds the base image>.",
                e.InnerException);
        }

        Phase("resolve base image (rest)");
        log.Detail($"base image {baseSource.Name}{(baseImage.ManifestDigest is { } bd ? " @ " + bd : "")}, {baseImage.Layers.Count} layers, {baseImage.Platform.Os}/{baseImage.Platform.Architecture}");
        var created = revision.CommitTime;

        var image = ImageAssembler.Assemble(baseImage, layers, Settings(request, revision, baseImage, format, created));
        // A moving name (latest, a branch) is a pointer, never the release id: the commit's tag is.
        var (userTags, movingUserTags) = ReleaseTags.SplitMoving(request.UserTags, revision.Branch);
        foreach (var moving in movingUserTags)
        {
            log.Warning(VersioningErrors.MovingUserTag, $"ContainerImageTag(s) has '{moving}', a name that moves from build to build, so it is written as a moving tag and the release keeps the commit's id. Move '{moving}' to ImmutableMovingTags to silence this, or give a tag that names one release.");
        }

        var tags = userTags.Count > 0 ? userTags.ToList() : [ReleaseTags.Primary(revision, policy, request.Version, image.Digest)];
        var movingTags = request.MovingTags.Concat(movingUserTags).Distinct(StringComparer.Ordinal).Where(t => !tags.Contains(t, StringComparer.Ordinal)).ToList();
        var releaseId = tags[0];
        if (revision.IsDirty)
        {
            log.Warning("IMB1101", $"The work tree has uncommitted changes, so the release is tagged '{releaseId}', a name for this content only. Commit, then publish, to get a release named by its commit.");
        }

        Phase("assemble image");
        var hints = ConflictHints(request, revision, previous);
        var outputs = new Dictionary<string, string>(StringComparer.Ordinal);
        string reference;
        if (pushClient is not null)
        {
            reference = await PushAsync(request, pushClient, image, tags, movingTags, hints, streamed?.Committed, log, cancellationToken);
        }
        else
        {
            var layout = Path.Combine(request.OutputDirectory, "image");
            await WriteLayoutAsync(layout, image, tags, movingTags, request.AllowTagOverwrite, hints, log, cancellationToken);
            outputs["ociLayout"] = "image";
            reference = $"{request.Repository}@{image.Digest}";
        }

        Phase(request.Registry is null ? "write OCI layout" : "push");
        if (request.ArchiveOutputPath is { } archive)
        {
            var archivePath = Path.GetFullPath(archive, request.ProjectDirectory);
            if (Directory.Exists(archivePath) || archive.EndsWith('/') || archive.EndsWith('\\'))
            {
                archivePath = Path.Combine(archivePath, $"{request.AppName}.tar");
            }

            var repoName = request.Registry is null ? request.Repository : $"{request.Registry}/{request.Repository}";
            var written = await new DockerArchiveWriter(new BlobCache(BlobCache.DefaultDirectory)).WriteAsync(image.Content, archivePath, tags.Select(t => $"{repoName}:{t}").ToList(), cancellationToken);
            outputs["dockerArchive"] = Path.GetRelativePath(request.OutputDirectory, archivePath).Replace('\\', '/');
            log.Info($"docker archive: {archivePath} ({written.Length.ToString("N0", CultureInfo.InvariantCulture)} bytes, for `docker load`)");
        }

        var releaseImage = new ReleaseImage
        {
            Registry = request.Registry,
            Repository = request.Repository,
            Digest = image.Digest.Value,
            Reference = reference,
            MediaType = image.Content.ManifestMediaType,
            Tags = tags,
            MovingTags = movingTags,
            Reproducible = true,
            Engine = "immutable",
            ConfigDigest = image.ConfigDigest.Value,
            Layers = image.Layers.Select(l => new ReleaseLayer(l.Name, l.Descriptor.Digest, l.Descriptor.Size, l.Descriptor.MediaType)).ToList(),
            Base = baseImage.ManifestDigest is null && baseImage.Layers.Count == 0 ? null : new ReleaseBaseImage(baseSource.Name, baseImage.ManifestDigest?.Value),
            Outputs = outputs,
        };
        var manifest = ReleaseManifestBuilder.Build(request, releaseId, revision, releaseImage);
        ReleaseManifestFile.Write(manifestPath, manifest);
        ReleaseShortcut.Remember(request, fingerprint, manifest, manifestPath);

        log.Info($"release {releaseId}: {reference}");
        foreach (var layer in image.Layers.Where(l => !l.IsBase))
        {
            log.Info($"  layer {layer.Name,-18} {layer.Descriptor.Size.ToString("N0", CultureInfo.InvariantCulture),12} bytes  {layer.Descriptor.Digest}");
        }

        log.Info($"  release manifest {manifestPath}");
        return new ReleaseResult(releaseId, image.Digest.Value, reference, manifestPath, tags, manifest);
    }

    private static ReleaseManifest? TryReadManifest(string path)
    {
        try
        {
            return File.Exists(path) ? ReleaseManifestFile.Read(path) : null;
        }
        catch (Exception e) when (e is ImmutableBuildException or IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>The build facts an image does not carry, for IMB2016's comparison: this build's, and the last release's.</summary>
    private static TagConflictHints ConflictHints(ReleaseRequest request, SourceRevision revision, ReleaseManifest? previous)
    {
        static Dictionary<string, string> Facts(bool dirty, ReleaseBuildInfo build)
        {
            var facts = new Dictionary<string, string>(StringComparer.Ordinal) { [TagConflict.DirtyFact] = dirty ? "yes" : "no" };
            void Add(string name, string? value)
            {
                if (!string.IsNullOrEmpty(value))
                {
                    facts[name] = value;
                }
            }

            Add("SDK version", build.SdkVersion);
            Add("configuration", build.Configuration);
            Add("target framework", build.TargetFramework);
            Add("runtime identifier", build.RuntimeIdentifier);
            Add("Immutable.Build version", build.ToolVersion);
            return facts;
        }

        var current = Facts(revision.IsDirty, new ReleaseBuildInfo(request.SdkVersion, request.Configuration, request.TargetFramework, request.RuntimeIdentifier, ReleaseManifestBuilder.ToolVersion));
        return previous is { Image.Digest: var d, Source: { } source, Build: { } build } && Digest.TryParse(d, out var digest)
            ? new TagConflictHints(current, digest, Facts(source.Dirty, build))
            : new TagConflictHints(current);
    }

    /// <summary>The environment the release sees: the request's, else the process's.</summary>
    internal static Func<string, string?> EnvironmentReader(ReleaseRequest request) =>
        request.EnvironmentVariables is { } env ? name => env.GetValueOrDefault(name) : Environment.GetEnvironmentVariable;

    /// <summary>A registry client that sees the release's environment (credentials, insecure registries) and logs to its detail log.</summary>
    /// <summary>The image label naming the app; every container of the image carries it too.</summary>
    public const string AppLabel = ReleaseLabels.App;

    internal static RegistryClient RegistryClientFor(string registry, Func<string, string?> getEnv, ReleaseLog log) =>
        new(registry, new RegistryClientOptions { GetEnvironmentVariable = getEnv, Log = log.Detail });

    private static ManifestFormat ParseFormat(string? value) => (value ?? "").Trim().ToLowerInvariant() switch
    {
        "" or "oci" => ManifestFormat.Oci,
        "docker" => ManifestFormat.Docker,
        _ => throw new ImmutableBuildException("IMB1006", $"ContainerImageFormat '{value}' is not known; use OCI (the default) or Docker."),
    };

    /// <summary>
    /// The tags the push will write, when they are known before the image is: user tags, or the commit's tag of a clean
    /// tree (a dirty tree's tag names the image digest). Null when they are not.
    /// </summary>
    private static IReadOnlyList<string>? KnownTags(ReleaseRequest request, SourceRevision revision, TagPolicy policy)
    {
        var (userTags, _) = ReleaseTags.SplitMoving(request.UserTags, revision.Branch);
        if (userTags.Count > 0)
        {
            return userTags;
        }

        return revision.IsDirty ? null : [ReleaseTags.Primary(revision, policy, request.Version, default)];
    }

    private static async Task<List<BuiltLayer>> BuildLayersAsync(ReleaseRequest request, DateTimeOffset created, StreamedLayerUploads? streamed, ReleaseLog log, CancellationToken cancellationToken)
    {
        var publishDir = Path.GetFullPath(request.PublishDirectory);
        if (!Directory.Exists(publishDir))
        {
            throw new ImmutableBuildException("IMB1007", $"The publish folder {publishDir} does not exist; the release runs after `dotnet publish` has written it.");
        }

        var kinds = request.PublishFiles.ToDictionary(f => f.RelativePath, f => f.Kind, StringComparer.Ordinal);
        var workingDirectory = request.WorkingDirectory.Trim('/');
        var files = new Dictionary<LayerKind, List<LayerFile>>();
        foreach (var path in Directory.EnumerateFiles(publishDir, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            var relative = Path.GetRelativePath(publishDir, path).Replace('\\', '/');
            var kind = kinds.TryGetValue(relative, out var k) ? k : LayerKind.App;
            (files.TryGetValue(kind, out var list) ? list : files[kind] = []).Add(new LayerFile(path, $"{workingDirectory}/{relative}"));
        }

        var builder = new LayerBuilder(request.LayerCacheDirectory)
        {
            Sink = streamed is null ? null : streamed.OpenAsync,
            SinkLog = log.Detail,
        };
        var specs = LayerOrder
            .Where(l => files.TryGetValue(l.Kind, out var list) && list.Count > 0)
            .Select(l => new LayerSpec(l.Name, files[l.Kind], l.Kind == LayerKind.App ? created : DependencyLayerTime))
            .ToList();
        // Each layer is its own file with its own bytes, so they are built side by side, one per core: the small
        // dependency layers are done while the app layer still compresses. The results keep the image's order.
        var layers = new BuiltLayer[specs.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, specs.Count),
            new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken },
            async (i, ct) => layers[i] = await builder.BuildAsync(specs[i], ct));
        foreach (var layer in layers)
        {
            log.Detail($"layer {layer.Name}: {layer.FileCount} files, {layer.Size} bytes, {(layer.Reused ? "unchanged, reused from the layer cache" : "written")}");
        }

        builder.Prune(layers);
        return [.. layers];
    }

    private static RegistryClient? BaseRegistryClient(ReleaseRequest request, Func<string, string?> getEnv, ReleaseLog log)
    {
        if (IsScratch(request.BaseImage) || request.BaseImageLayout is not null)
        {
            return null;
        }

        var reference = ImageReference.Parse(request.BaseImage);
        return RegistryClientFor(reference.Registry ?? ImageReference.DockerHub, getEnv, log);
    }

    private static IBaseImageSource BaseSource(ReleaseRequest request, RegistryClient? client)
    {
        if (request.BaseImageLayout is { } layout)
        {
            var reference = IsScratch(request.BaseImage) ? null : ImageReference.Parse(request.BaseImage);
            return new OciLayoutBase(Path.GetFullPath(layout, request.ProjectDirectory), reference?.Tag, request.RuntimeIdentifier);
        }

        if (client is null)
        {
            return new ScratchBase(request.RuntimeIdentifier);
        }

        return new RegistryBase(new RegistryManifestFetcher(client), ImageReference.Parse(request.BaseImage), request.RuntimeIdentifier);
    }

    private static bool IsScratch(string baseImage) => baseImage.Trim() is "scratch" or "docker.io/library/scratch";

    private static ImageSettings Settings(ReleaseRequest request, SourceRevision revision, BaseImage baseImage, ManifestFormat format, DateTimeOffset created)
    {
        var time = ImageAssembler.FormatTime(created);
        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in request.Labels)
        {
            labels[key] = value;
        }

        // The SDK stamps the wall clock into these; a reproducible image carries the commit time.
        foreach (var key in new[] { "org.opencontainers.image.created", "org.opencontainers.artifact.created" })
        {
            if (labels.ContainsKey(key))
            {
                labels[key] = time;
            }
        }

        labels["org.opencontainers.image.revision"] = revision.Commit;

        // Containers inherit image labels: a container of the app that someone started by hand is still recognised (drift).
        labels[AppLabel] = request.AppName;
        if (revision.RepositoryUrl is { } url)
        {
            labels["org.opencontainers.image.source"] = SourceRevisionReader.NormalizeRepositoryUrl(url) ?? url;
        }

        if (!string.IsNullOrWhiteSpace(request.Version))
        {
            labels["org.opencontainers.image.version"] = request.Version;
        }

        // As the SDK does: without a user, run as the base image's non-root APP_UID when it names one.
        var user = request.User;
        if (string.IsNullOrWhiteSpace(user))
        {
            user = baseImage.Config.Config?.Env?.Select(e => e.Split('=', 2)).FirstOrDefault(p => p.Length == 2 && p[0] == "APP_UID")?[1];
        }

        var working = request.WorkingDirectory.EndsWith('/') ? request.WorkingDirectory : request.WorkingDirectory + "/";
        return new ImageSettings
        {
            Created = created,
            Format = format,
            Entrypoint = request.Entrypoint.Count > 0 ? request.Entrypoint : null,
            Cmd = request.Cmd.Count > 0 ? request.Cmd : null,
            WorkingDirectory = working,
            User = string.IsNullOrWhiteSpace(user) ? null : user,
            Environment = request.Environment,
            ExposedPorts = request.Ports,
            Labels = labels,
        };
    }

    private static async Task<string> PushAsync(ReleaseRequest request, RegistryClient client, AssembledImage image, List<string> tags, List<string> movingTags, TagConflictHints hints, IReadOnlyDictionary<Digest, long>? streamed, ReleaseLog log, CancellationToken cancellationToken)
    {
        var push = await ImagePusher.PushAsync(client, request.Repository, image.Content, tags, request.AllowTagOverwrite, log.Detail, streamed, cancellationToken, hints);
        foreach (var tag in push.Tags)
        {
            switch (tag.Decision)
            {
                case TagDecision.Adopt:
                    log.Info($"{client.Registry}/{request.Repository}:{tag.Tag} already points at {image.Digest}: adopted, nothing pushed");
                    break;
                case TagDecision.Overwrite:
                    log.Warning("IMB2101", $"OVERWROTE tag {client.Registry}/{request.Repository}:{tag.Tag}: it pointed at {tag.ExistingDigest} and now points at {image.Digest}, because ImmutableAllowTagOverwrite=true. Anything that deployed the tag by name now gets other content.");
                    break;
                default:
                    log.Info($"pushed {client.Registry}/{request.Repository}:{tag.Tag} -> {image.Digest}");
                    break;
            }
        }

        if (!push.NothingPushed)
        {
            log.Info($"  {push.BlobsUploaded.Count} blobs uploaded ({push.BytesUploaded.ToString("N0", CultureInfo.InvariantCulture)} bytes), {push.BlobsMounted.Count} mounted, {push.BlobsPresent.Count} already present");
        }

        if (movingTags.Count > 0)
        {
            // Moving tags are pointers by definition: they move without the guard, and are never deployed by name.
            await ImagePusher.PushAsync(client, request.Repository, image.Content, movingTags, allowOverwrite: true, log.Detail, cancellationToken);
            log.Info($"moved {string.Join(", ", movingTags)} -> {image.Digest}");
        }

        return push.Reference;
    }

    private static async Task WriteLayoutAsync(string layout, AssembledImage image, List<string> tags, List<string> movingTags, bool allowOverwrite, TagConflictHints hints, ReleaseLog log, CancellationToken cancellationToken)
    {
        // The tag guard holds for the layout on disk as for a registry.
        var existing = LayoutIndex.Tags(layout);
        var decisions = tags.Select(t => new TagGuardResult(t, TagGuard.Decide(image.Digest, existing.TryGetValue(t, out var d) ? d : null, allowOverwrite), existing.TryGetValue(t, out var e) ? e : null)).ToList();
        var refused = decisions.Where(d => d.Decision == TagDecision.Refuse).ToList();
        if (refused.Count > 0)
        {
            var built = TagConflict.TryOf(image.Content, hints.Current);
            var conflicts = refused
                .Select(r => built is not null && TagConflict.TryRead(layout, r.ExistingDigest!.Value, hints.For(r.ExistingDigest!.Value)) is { } other ? TagConflict.Compare(r.Tag, r.ExistingDigest!.Value, other, built) : null)
                .OfType<TagConflict>()
                .ToList();
            throw RegistryErrors.Refused("oci:" + layout, "", image.Digest, refused, conflicts);
        }

        if (decisions.All(d => d.Decision == TagDecision.Adopt) && movingTags.All(t => existing.TryGetValue(t, out var m) && m == image.Digest))
        {
            foreach (var d in decisions)
            {
                log.Info($"oci:{layout}:{d.Tag} already points at {image.Digest}: adopted, nothing written");
            }

            return;
        }

        var result = await new OciLayoutWriter(layout, new BlobCache(BlobCache.DefaultDirectory)).WriteAsync(image.Content, [.. tags, .. movingTags], cancellationToken);
        foreach (var d in decisions)
        {
            if (d.Decision == TagDecision.Overwrite)
            {
                log.Warning("IMB2101", $"OVERWROTE tag {d.Tag} in {layout}: it pointed at {d.ExistingDigest} and now points at {image.Digest}, because ImmutableAllowTagOverwrite=true.");
            }
            else
            {
                log.Info($"oci:{layout}:{d.Tag} -> {image.Digest}{(d.Decision == TagDecision.Adopt ? " (adopted)" : "")}");
            }
        }

        log.Detail($"OCI layout: {result.BlobsWritten} blobs written, {result.BlobsPresent} already present");
    }
}
