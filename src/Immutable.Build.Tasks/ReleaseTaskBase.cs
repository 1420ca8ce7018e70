using Immutable.Build.Releases;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using MSTask = Microsoft.Build.Utilities.Task;

namespace Immutable.Build.Tasks;

/// <summary>
/// What every release task reads from the project; the tasks differ only in which Core call they make.
/// </summary>
public abstract class ReleaseTaskBase : MSTask, ICancelableTask
{
    private readonly CancellationTokenSource _cancel = new();

    [Required] public string ProjectDirectory { get; set; } = "";
    [Required] public string PublishDirectory { get; set; } = "";
    [Required] public string OutputDirectory { get; set; } = "";
    [Required] public string AppName { get; set; } = "";
    [Required] public string Repository { get; set; } = "";
    [Required] public string BaseImage { get; set; } = "";
    [Required] public string RuntimeIdentifier { get; set; } = "";
    public string? LayerCacheDirectory { get; set; }
    public string? Registry { get; set; }
    public string? BaseImageLayout { get; set; }
    public ITaskItem[] PublishFiles { get; set; } = [];
    public string? WorkingDirectory { get; set; }
    public string? User { get; set; }
    public string[] Entrypoint { get; set; } = [];
    public string[] Cmd { get; set; } = [];
    public ITaskItem[] EnvironmentVariables { get; set; } = [];
    public ITaskItem[] Labels { get; set; } = [];
    public ITaskItem[] Ports { get; set; } = [];
    public string[] UserTags { get; set; } = [];
    public string[] MovingTags { get; set; } = [];
    public string? TagPolicy { get; set; }
    public string? Version { get; set; }
    public string? SourceRevision { get; set; }
    public bool AllowTagOverwrite { get; set; }
    public string? ImageFormat { get; set; }
    public string? ArchiveOutputPath { get; set; }
    public string? SdkVersion { get; set; }
    public string? Configuration { get; set; }
    public string? TargetFramework { get; set; }

    /// <summary>Cancelled when MSBuild cancels the build (Ctrl+C).</summary>
    protected CancellationToken CancellationToken => _cancel.Token;

    /// <inheritdoc />
    public void Cancel() => _cancel.Cancel();

    /// <inheritdoc />
    public sealed override bool Execute() =>
        TaskLog.Guard(Log, _cancel.Token, "The release was cancelled; nothing was tagged. Publish again to finish it.", () => Run(BuildRequest(), TaskLog.For(Log)));

    /// <summary>The one Core call of this task.</summary>
    protected abstract void Run(ReleaseRequest request, ReleaseLog log);

    /// <summary>Sets the task outputs that every release reports.</summary>
    protected static ITaskItem[] TagItems(IEnumerable<string> tags) => tags.Select(t => (ITaskItem)new TaskItem(t)).ToArray();

    private ReleaseRequest BuildRequest() => new()
    {
        ProjectDirectory = ProjectDirectory,
        PublishDirectory = PublishDirectory,
        PublishFiles = PublishFileClassifier.Classify(PublishFiles.Select(i => new PublishItem(
            i.GetMetadata("RelativePath") is { Length: > 0 } r ? r : i.ItemSpec,
            i.GetMetadata("NuGetPackageId"),
            i.GetMetadata("ReferenceSourceTarget"),
            i.GetMetadata("MSBuildSourceProjectFile"),
            i.GetMetadata("RuntimePackAsset")))),
        OutputDirectory = OutputDirectory,
        LayerCacheDirectory = string.IsNullOrWhiteSpace(LayerCacheDirectory) ? Path.Combine(OutputDirectory, "layers") : LayerCacheDirectory,
        AppName = AppName,
        Repository = Repository,
        Registry = string.IsNullOrWhiteSpace(Registry) ? null : Registry.Trim(),
        BaseImage = BaseImage,
        BaseImageLayout = string.IsNullOrWhiteSpace(BaseImageLayout) ? null : BaseImageLayout,
        RuntimeIdentifier = RuntimeIdentifier,
        WorkingDirectory = string.IsNullOrWhiteSpace(WorkingDirectory) ? "/app/" : WorkingDirectory,
        User = User,
        Entrypoint = Entrypoint,
        Cmd = Cmd,
        Environment = EnvironmentVariables.Select(i => new KeyValuePair<string, string>(i.ItemSpec, i.GetMetadata("Value"))).ToList(),
        Labels = Labels.Select(i => new KeyValuePair<string, string>(i.ItemSpec, i.GetMetadata("Value"))).ToList(),
        Ports = Ports.Select(i => $"{i.ItemSpec}/{(i.GetMetadata("Type") is { Length: > 0 } t ? t : "tcp")}").ToList(),
        UserTags = UserTags.Where(t => !string.IsNullOrWhiteSpace(t)).Select(t => t.Trim()).ToList(),
        MovingTags = MovingTags.Where(t => !string.IsNullOrWhiteSpace(t)).Select(t => t.Trim()).ToList(),
        TagPolicy = TagPolicy,
        Version = Version,
        SourceRevision = SourceRevision,
        AllowTagOverwrite = AllowTagOverwrite,
        ImageFormat = ImageFormat,
        ArchiveOutputPath = string.IsNullOrWhiteSpace(ArchiveOutputPath) ? null : ArchiveOutputPath,
        SdkVersion = SdkVersion,
        Configuration = Configuration,
        TargetFramework = TargetFramework,
    };
}
