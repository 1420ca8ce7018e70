using Amazon.EC2.Model;
using Immutable.Build.Aws.Bake;
using Immutable.Build.Aws.Elb;
using Immutable.Build.Targets;

namespace Immutable.Build.Aws;

/// <summary>
/// Rollouts to EC2: a group is a set of instances launched from the release's launch template version (on the
/// release's baked AMI when there is one, else on the base AMI with user data that pulls the image by digest), with
/// its own target group; traffic moves by the listener's weights, or by an Elastic IP. Health is what AWS sees:
/// instance state, status checks and the load balancer's target health; the engine's HTTP gates run against instance
/// addresses only when <see cref="Ec2TargetOptions.DirectHealthChecks"/> says the rollout runs inside the VPC.
/// </summary>
public sealed class Ec2Target : IDeploymentTarget, IMachineImageTarget, IDisposable
{
    private readonly Ec2TargetOptions _options;
    private readonly AwsClients _aws;
    private readonly Ec2Instances _instances;
    private readonly Ec2Images _images;
    private readonly Ec2LaunchTemplates _templates;
    private readonly Ec2TargetGroups _targetGroups;
    private readonly Ec2Traffic _traffic;

    /// <summary>Creates the target; nothing is contacted until a method runs.</summary>
    public Ec2Target(Ec2TargetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _aws = new AwsClients(options);
        _instances = new Ec2Instances(_aws, options);
        _images = new Ec2Images(_aws, options);
        _templates = new Ec2LaunchTemplates(_aws, options);
        _targetGroups = new Ec2TargetGroups(_aws, options);
        _traffic = new Ec2Traffic(_aws, options, _targetGroups);
    }

    /// <inheritdoc />
    public string Name => Ec2TargetProvider.TargetName;

    /// <inheritdoc />
    public bool InstancesReachable => _options.DirectHealthChecks;

    /// <inheritdoc />
    public async Task PrepareAsync(DeploymentScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        await AmiBaker.SweepAsync(_aws, _options, scope, cancellationToken);
        if (_options.BaseAmi != Ec2TargetOptions.DefaultBaseAmi)
        {
            // A base AMI given by hand is checked before the journal is touched; the default parameter always resolves.
            await _images.BaseAmiAsync(cancellationToken);
        }

        if (_traffic.Listener)
        {
            await _traffic.VpcAsync(await _traffic.ListenerAsync(cancellationToken), cancellationToken);
        }
        else if (_options.ElasticIp is not null)
        {
            await _traffic.AddressAsync(cancellationToken);
        }
    }

    /// <inheritdoc />
    public async Task<TargetState> ObserveAsync(DeploymentScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var instances = await _instances.ListAsync(scope, null, cancellationToken);
        var running = instances.Where(i => i.State?.Name?.Value == "running").Select(i => i.InstanceId).ToList();
        var statuses = await _instances.StatusAsync(running, cancellationToken);
        var groups = instances.Select(i => Ec2Tags.Get(i.Tags, Ec2Tags.Group)).Where(g => g is not null).Select(g => g!).Distinct(StringComparer.Ordinal).ToList();
        var health = new Dictionary<string, ElbTargetHealth>(StringComparer.Ordinal);
        if (_traffic.Listener)
        {
            foreach (var tg in (await _targetGroups.FindAsync(scope, groups, cancellationToken)).Values)
            {
                foreach (var (id, h) in await _targetGroups.HealthAsync(tg, cancellationToken))
                {
                    health[id] = h;
                }
            }
        }

        var weights = await _traffic.WeightsAsync(scope, instances, cancellationToken);
        return new TargetState(instances.Select(i => Info(scope, i, statuses.GetValueOrDefault(i.InstanceId), health.GetValueOrDefault(i.InstanceId))).ToList(), weights, null);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<InstanceInfo>> LaunchAsync(LaunchRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Replicas is < 1 or > 1000)
        {
            throw AwsErrors.Setting("ImmutableReplicas", request.Replicas.ToString(System.Globalization.CultureInfo.InvariantCulture), "give 1 to 1000 instances per group");
        }

        var (scope, release, group) = (request.Scope, request.Release, request.Group);
        var template = await TemplateAsync(scope, release, cancellationToken);
        ElbTargetGroup? targetGroup = null;
        if (_traffic.Listener)
        {
            var listener = await _traffic.ListenerAsync(cancellationToken);
            targetGroup = (await _targetGroups.FindAsync(scope, [group], cancellationToken)).GetValueOrDefault(group)
                ?? await _targetGroups.CreateAsync(scope, release, group, await _traffic.VpcAsync(listener, cancellationToken), cancellationToken);
            await _traffic.AttachAsync(listener, targetGroup, cancellationToken);
        }

        var tags = Ec2Tags.For(scope, release);
        tags[Ec2Tags.Group] = group;
        tags[Ec2Tags.Role] = Ec2Tags.InstanceRole;
        tags[Ec2Tags.Ami] = template.ImageId;
        tags["Name"] = $"{scope.App}-{scope.Environment}-{group}";
        var launched = await _instances.RunAsync(template, request.Replicas, tags, $"{scope.Key}/{group}", cancellationToken);
        _options.Log($"launched {launched.Count} instance(s) of {group} from {template.TemplateName} version {template.Version} ({template.ImageId}): {string.Join(", ", launched.Select(i => i.InstanceId).Take(10))}{(launched.Count > 10 ? ", ..." : "")}");
        var running = await _instances.WaitRunningAsync(scope, group, request.Replicas, cancellationToken);
        if (targetGroup is not null)
        {
            foreach (var chunk in running.Select(i => i.InstanceId).Chunk(500))
            {
                await _targetGroups.RegisterAsync(targetGroup, chunk, cancellationToken);
            }
        }

        return running.Select(i => Info(scope, i, null, null) with { Status = "starting" }).ToList();
    }

    /// <inheritdoc />
    public async Task RouteAsync(DeploymentScope scope, IReadOnlyDictionary<string, int> weightsByGroup, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(weightsByGroup);
        var total = weightsByGroup.Values.Sum();
        if (weightsByGroup.Values.Any(w => w is < 0 or > 100) || total is not 0 and not 100)
        {
            throw AwsErrors.Setting("weights", string.Join(", ", weightsByGroup.Select(w => $"{w.Key}={w.Value}")), "each 0-100, summing to 100 (or 0 to route nothing)");
        }

        var instances = _traffic.Listener ? [] : await _instances.ListAsync(scope, null, cancellationToken);
        await _traffic.RouteAsync(scope, weightsByGroup, instances, cancellationToken);
    }

    /// <inheritdoc />
    public async Task DecommissionAsync(DeploymentScope scope, string group, TimeSpan drain, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var ids = (await _instances.ListAsync(scope, group, cancellationToken)).Select(i => i.InstanceId).ToList();
        if (_traffic.Listener && (await _targetGroups.FindAsync(scope, [group], cancellationToken)).GetValueOrDefault(group) is { } targetGroup)
        {
            await _traffic.DetachAsync(targetGroup, cancellationToken);
            await _targetGroups.RetireAsync(targetGroup, ids, cancellationToken);
        }

        if (ids.Count > 0)
        {
            await _instances.TerminateAsync(ids, cancellationToken);
            _options.Log($"terminated {ids.Count} instance(s) of {group}: {string.Join(", ", ids.Take(10))}{(ids.Count > 10 ? ", ..." : "")}");
        }
    }

    /// <inheritdoc />
    public async Task PruneAsync(DeploymentScope scope, IReadOnlyCollection<string> keepImageDigests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(keepImageDigests);
        await _images.PruneAsync(scope, keepImageDigests, cancellationToken);
        await _templates.PruneAsync(scope, keepImageDigests, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> DescribeAsync(DeploymentScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (_traffic.Listener)
        {
            var listener = await _traffic.ListenerAsync(cancellationToken);
            var balancer = await _aws.Calls.RunAsync("DescribeLoadBalancers", ct => _aws.Elb.DescribeLoadBalancerAsync(listener.LoadBalancerArn, ct), cancellationToken);
            return [$"serving through {(listener.Protocol == "HTTPS" ? "https" : "http")}://{balancer?.DnsName}:{listener.Port}/ (listener {listener.Arn})"];
        }

        if (_options.ElasticIp is not null)
        {
            var address = await _traffic.AddressAsync(cancellationToken);
            return [$"serving on http://{address.PublicIp}:{_options.AppPort}/ (Elastic IP {address.AllocationId} on {address.InstanceId})"];
        }

        return [];
    }

    /// <inheritdoc />
    public async Task<MachineImageRelease> BakeAsync(DeploymentScope scope, ReleaseRef release, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(release);
        var amis = await new AmiBaker(_aws, _options, _images).BakeAsync(scope, release, cancellationToken);
        var template = await TemplateAsync(scope, release, cancellationToken);
        return new MachineImageRelease(amis, template.TemplateId, template.TemplateName, template.Version);
    }

    /// <summary>The release's launch template version and the AMI it launches (the baked one when it exists).</summary>
    internal async Task<LaunchTemplateVersionRef> TemplateAsync(DeploymentScope scope, ReleaseRef release, CancellationToken cancellationToken)
    {
        var baked = await _images.FindAsync(scope, release.ImageDigest, _options.Endpoints.Region, pending: false, cancellationToken);
        var input = new ReleaseScriptInput(release.ImageSource, release.ImageDigest, _options.AppPort, release.ReleaseId, release.Commit ?? "", scope.App, scope.Environment, "");
        if (baked is not null)
        {
            return await _templates.EnsureAsync(scope, release, baked.ImageId, ReleaseScripts.BakedUserData(input), cancellationToken);
        }

        if (release.ImageSource.StartsWith("oci:", StringComparison.Ordinal))
        {
            throw new ImmutableBuildException(AwsErrors.NoImageCode, $"Release {release.ReleaseId} has no AMI in {_options.Endpoints.Region} and no registry image (it was published to {release.ImageSource}): publish with ContainerRegistry set so instances pull it by digest, or bake an AMI (ImmutableBakeAmi=true, or `immutable bake-ami`).");
        }

        var baseAmi = await _images.BaseAmiAsync(cancellationToken);
        return await _templates.EnsureAsync(scope, release, baseAmi, ReleaseScripts.UserData(input), cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose() => _aws.Dispose();

    private InstanceInfo Info(DeploymentScope scope, Instance instance, Amazon.EC2.Model.InstanceStatus? status, ElbTargetHealth? health)
    {
        var tags = instance.Tags;
        var group = Ec2Tags.Get(tags, Ec2Tags.Group);
        var ami = Ec2Tags.Get(tags, Ec2Tags.Ami);
        var managed = Ec2Tags.Get(tags, Ec2Tags.Managed) == "true" && group is not null && (ami is null || ami == instance.ImageId);
        var state = instance.State?.Name?.Value ?? "unknown";
        var text = state switch
        {
            "pending" => "starting",
            "running" when status?.Status?.Status?.Value == "impaired" || status?.SystemStatus?.Status?.Value == "impaired" => "failed",
            "running" when _traffic.Listener => health?.State switch
            {
                "healthy" => "running",
                null or "initial" or "unused" => "starting",
                var s => s,
            },
            "running" => "running",
            _ => "stopped",
        };
        var address = instance.PrivateIpAddress is { Length: > 0 } ip
            ? _options.InstanceUrl?.Invoke(ip) ?? new Uri($"http://{ip}:{_options.AppPort}/")
            : new Uri($"http://0.0.0.0:{_options.AppPort}/");
        var detail = ami is not null && ami != instance.ImageId ? $"runs {instance.ImageId}, not the release's {ami}"
            : health is { State: not "healthy" } ? $"target health {health.State}{(health.Reason is null ? "" : $" ({health.Reason}: {health.Description})")}"
            : null;
        return new InstanceInfo(instance.InstanceId, scope, Ec2Tags.Get(tags, Ec2Tags.Release) ?? "", Ec2Tags.Get(tags, Ec2Tags.Digest) ?? "", group ?? "", address, text, managed) { Detail = detail };
    }
}
