using Immutable.Build.Deployments;
using Microsoft.Build.Framework;
using MSTask = Microsoft.Build.Utilities.Task;

namespace Immutable.Build.Tasks;

/// <summary>ImmutableBakeAmi=true: bakes the release just recorded into an AMI (or adopts it) through <see cref="Deployer.BakeAsync"/>.</summary>
public sealed class BakeImmutableAmi : MSTask, ICancelableTask
{
    private readonly CancellationTokenSource _cancel = new();

    /// <summary>release.json.</summary>
    [Required] public string ReleaseManifest { get; set; } = "";

    /// <summary>The target that bakes (ec2).</summary>
    public string? Target { get; set; }

    /// <summary>The environment (tags of the AMI).</summary>
    public string? Environment { get; set; }

    /// <summary>The state directory.</summary>
    public string? StateDirectory { get; set; }

    /// <summary>The target's settings by name.</summary>
    public ITaskItem[] TargetSettings { get; set; } = [];

    /// <summary>region=ami-id pairs, ';'-separated.</summary>
    [Output] public string AmiIds { get; private set; } = "";

    /// <inheritdoc />
    public void Cancel() => _cancel.Cancel();

    /// <inheritdoc />
    public override bool Execute() =>
        TaskLog.Guard(Log, _cancel.Token, "The bake was cancelled; its builder was terminated (or is, by the next command).", Bake);

    private void Bake()
    {
        var settings = new DeploymentSettings
        {
            Target = string.IsNullOrWhiteSpace(Target) || Target == "none" ? "ec2" : Target,
            Environment = Environment,
            StateDirectory = StateDirectory,
            TargetSettings = TargetSettings.GroupBy(i => i.ItemSpec, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.Last().GetMetadata("Value"), StringComparer.OrdinalIgnoreCase),
        };
        var images = Deployer.BakeAsync(settings.ToOptions(), ReleaseManifest, TaskLog.For(Log), _cancel.Token).GetAwaiter().GetResult();
        AmiIds = string.Join(";", images.ImagesByRegion.Select(i => $"{i.Key}={i.Value}"));
    }
}
