namespace Immutable.Build.Images;

/// <summary>No base at all: an empty root filesystem for the RID's platform.</summary>
public sealed class ScratchBase : IBaseImageSource
{
    private readonly Platform _platform;

    /// <summary>An empty base for <paramref name="rid"/> (e.g. linux-x64 gives linux/amd64).</summary>
    public ScratchBase(string rid) => _platform = Platforms.FromRuntimeIdentifier(rid);

    /// <inheritdoc />
    public string Name => "scratch";

    /// <inheritdoc />
    public Task<BaseImage> ResolveAsync(CancellationToken cancellationToken = default) => Task.FromResult(new BaseImage
    {
        Name = Name,
        Platform = _platform,
        Config = new ImageConfig
        {
            Architecture = _platform.Architecture,
            Os = _platform.Os,
            Variant = _platform.Variant,
            Config = new ContainerConfig(),
            RootFs = new RootFs(),
        },
    });
}
