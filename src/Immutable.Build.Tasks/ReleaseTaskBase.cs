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
    public sealed override bool Execute()
    {
        try
        {
            Run(BuildRequest(), TaskLog.For(Log));
            return !Log.HasLoggedErrors;
        }
        catch (ImmutableBuildException e)
        {
            Log.LogError("Immutable.Build", e.Code, null, null, 0, 0, 0, 0, e.Message);
            return false;
        }
        catch (OperationCanceledException) when (_cancel.IsCancellationRequested)
        {
            Log.LogError("Immutable.Build", "IMB0002", null, null, 0, 0, 0, 0, "The release was cancelled; nothing was tagged. Publish again to finish it.");
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or HttpRequestException or InvalidOperationException or ArgumentException or NotSupportedException)
        {
            // An unforeseen failure still gets a code and one line; the detail goes to the diagnostic log.
            Log.LogError("Immutable.Build", "IMB0003", null, null, 0, 0, 0, 0, $"The release failed unexpectedly: {e.GetType().Name}: {e.Message} Nothing was tagged. Rerun with -v:diag for the details, and report it if it persists.");
            Log.LogMessage(MessageImportance.Low, e.ToString());
            return false;
        }
    }

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
