using System.Globalization;
using System.Net;
using Immutable.Build.Aws;
using Immutable.Build.Targets;

[assembly: DeploymentTargetProvider(typeof(Ec2TargetProvider))]

namespace Immutable.Build.Aws;

/// <summary>ImmutableTarget=ec2: reads the <see cref="AwsSettings"/> into <see cref="Ec2TargetOptions"/>, with IMB8001/IMB8004 for values it cannot take.</summary>
public sealed class Ec2TargetProvider : IDeploymentTargetProvider
{
    /// <summary>The target's name.</summary>
    public const string TargetName = "ec2";

    /// <inheritdoc />
    public string Name => TargetName;

    /// <inheritdoc />
    public IReadOnlyList<TargetSetting> Settings => AwsSettings.All;

    /// <inheritdoc />
    public IDeploymentTarget Create(TargetContext context) => new Ec2Target(Options(context));

    /// <summary>The target's options from its settings.</summary>
    public static Ec2TargetOptions Options(TargetContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var environment = context.GetEnvironmentVariable;
        var region = RegionOf(context.Setting, environment);
        var options = new Ec2TargetOptions
        {
            Endpoints = new AwsEndpoints(
                region,
                Url(AwsSettings.ServiceUrl, context.Setting(AwsSettings.ServiceUrl) ?? environment("AWS_ENDPOINT_URL_EC2") ?? environment("AWS_ENDPOINT_URL")),
                Url(AwsSettings.ElbServiceUrl, context.Setting(AwsSettings.ElbServiceUrl) ?? environment("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2") ?? environment("AWS_ENDPOINT_URL"))),
            GetEnvironmentVariable = environment,
            Log = context.Log.Detail,
            Time = context.Time,
        };
        return Apply(options, context.Setting);
    }

    /// <summary>Lays the settings that <paramref name="setting"/> gives over <paramref name="options"/>.</summary>
    internal static Ec2TargetOptions Apply(Ec2TargetOptions options, Func<string, string?> setting)
    {
        var baseAmi = setting(AwsSettings.BaseAmi)?.Trim();
        if (baseAmi is not null && !baseAmi.StartsWith("ami-", StringComparison.Ordinal) && !baseAmi.StartsWith('/'))
        {
            throw AwsErrors.Setting(AwsSettings.BaseAmi, baseAmi, "give an AMI id (ami-...) or an SSM parameter name (/aws/service/...)");
        }

        var instanceType = setting(AwsSettings.InstanceType)?.Trim();
        if (instanceType is not null && !System.Text.RegularExpressions.Regex.IsMatch(instanceType, "^[a-z0-9-]+\\.[a-z0-9-]+$"))
        {
            throw AwsErrors.Setting(AwsSettings.InstanceType, instanceType, "give an instance type such as t3.micro or m7g.large");
        }

        var port = setting(AwsSettings.AppPort);
        var listener = setting(AwsSettings.ListenerArn)?.Trim();
        if (listener is not null && !listener.StartsWith("arn:", StringComparison.Ordinal))
        {
            throw AwsErrors.Setting(AwsSettings.ListenerArn, listener, "give the listener's ARN (arn:aws:elasticloadbalancing:...:listener/app/...)");
        }

        var eip = setting(AwsSettings.ElasticIp)?.Trim();
        if (eip is not null && !eip.StartsWith("eipalloc-", StringComparison.Ordinal) && !IPAddress.TryParse(eip, out _))
        {
            throw AwsErrors.Setting(AwsSettings.ElasticIp, eip, "give the allocation id (eipalloc-...) or the public address");
        }

        if (eip is not null && listener is not null)
        {
            throw AwsErrors.Setting(AwsSettings.ElasticIp, eip, $"route through either a listener ({AwsSettings.ListenerArn}) or an Elastic IP, not both");
        }

        var bakeTimeout = setting(AwsSettings.BakeTimeout);
        var healthPath = setting(AwsSettings.HealthCheckPath)?.Trim();
        if (healthPath is not null && (!healthPath.StartsWith('/') || healthPath.Length > 1024))
        {
            throw AwsErrors.Setting(AwsSettings.HealthCheckPath, healthPath, "give a path starting with /, such as /healthz");
        }

        return options with
        {
            BaseAmi = baseAmi ?? options.BaseAmi,
            InstanceType = instanceType ?? options.InstanceType,
            Subnets = List(AwsSettings.Subnets, setting(AwsSettings.Subnets), "subnet-") ?? options.Subnets,
            SecurityGroups = List(AwsSettings.SecurityGroups, setting(AwsSettings.SecurityGroups), "sg-") ?? options.SecurityGroups,
            InstanceProfile = setting(AwsSettings.InstanceProfile)?.Trim() ?? options.InstanceProfile,
            BuilderInstanceProfile = setting(AwsSettings.BuilderInstanceProfile)?.Trim() ?? options.BuilderInstanceProfile,
            KeyName = setting(AwsSettings.KeyName)?.Trim() ?? options.KeyName,
            AppPort = port is null ? options.AppPort
                : int.TryParse(port.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536 ? p
                : throw AwsErrors.Setting(AwsSettings.AppPort, port, "give a TCP port from 1 to 65535"),
            HealthCheckPath = healthPath ?? options.HealthCheckPath,
            ListenerArn = listener ?? options.ListenerArn,
            ElasticIp = eip ?? options.ElasticIp,
            DirectHealthChecks = Bool(AwsSettings.DirectHealthChecks, setting(AwsSettings.DirectHealthChecks)) ?? options.DirectHealthChecks,
            SetDefaultVersion = Bool(AwsSettings.SetDefaultVersion, setting(AwsSettings.SetDefaultVersion)) ?? options.SetDefaultVersion,
            BakeTimeout = bakeTimeout is null ? options.BakeTimeout
                : Durations.TryParse(bakeTimeout, out var t) && t > TimeSpan.Zero ? t
                : throw AwsErrors.Setting(AwsSettings.BakeTimeout, bakeTimeout, "give " + Durations.Expected),
            CopyToRegions = setting(AwsSettings.CopyToRegions) is { } regions
                ? regions.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(r => Region(AwsSettings.CopyToRegions, r)).Distinct(StringComparer.Ordinal).ToList()
                : options.CopyToRegions,
        };
    }

    /// <summary>The region: <see cref="AwsSettings.Region"/>, else AWS_REGION, else AWS_DEFAULT_REGION; IMB8004 when none is set.</summary>
    internal static string RegionOf(Func<string, string?> setting, Func<string, string?> environment)
    {
        var region = setting(AwsSettings.Region) ?? environment("AWS_REGION") ?? environment("AWS_DEFAULT_REGION");
        if (string.IsNullOrWhiteSpace(region))
        {
            throw new ImmutableBuildException(AwsErrors.CredentialsCode, $"No AWS region is set: set {AwsSettings.Region} (or AWS_REGION), e.g. eu-west-1.");
        }

        return Region(AwsSettings.Region, region);
    }

    private static string Region(string property, string value)
    {
        var region = value.Trim();
        return System.Text.RegularExpressions.Regex.IsMatch(region, "^[a-z]{2}(-[a-z]+)+-[0-9]+$")
            ? region
            : throw AwsErrors.Setting(property, value, "give a region name such as eu-west-1 or us-east-1");
    }

    /// <summary>An endpoint URL setting: null when empty, IMB8001 when not an http(s) URL without credentials.</summary>
    internal static Uri? Url(string property, string? value, string example = "https://ec2.eu-west-1.amazonaws.com")
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        return Uri.TryCreate(value.Trim(), UriKind.Absolute, out var url) && url.Scheme is "http" or "https" && string.IsNullOrEmpty(url.UserInfo)
            ? url
            : throw AwsErrors.Setting(property, value, $"give an http(s) URL without credentials, such as {example}");
    }

    private static List<string>? List(string property, string? value, string prefix)
    {
        if (value is null)
        {
            return null;
        }

        var items = value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal).ToList();
        return items.FirstOrDefault(i => !i.StartsWith(prefix, StringComparison.Ordinal) || i.Length <= prefix.Length) is { } bad
            ? throw AwsErrors.Setting(property, value, $"'{bad}' is not an id starting with {prefix}; separate ids with ';'")
            : items;
    }

    private static bool? Bool(string property, string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null => null,
        "true" or "yes" or "1" => true,
        "false" or "no" or "0" => false,
        _ => throw AwsErrors.Setting(property, value, "give true or false"),
    };
}
