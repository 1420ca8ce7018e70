using System.Globalization;

namespace Immutable.Build.Targets.Local;

/// <summary>ImmutableTarget=local, the embedded default: reads ImmutableLocalPort, with IMB6104 for a value that is no port.</summary>
public sealed class LocalTargetProvider : IDeploymentTargetProvider
{
    /// <summary>The property of the proxy port.</summary>
    public const string PortProperty = "ImmutableLocalPort";

    /// <summary>The target's name.</summary>
    public const string TargetName = "local";

    /// <inheritdoc />
    public string Name => TargetName;

    /// <inheritdoc />
    public IReadOnlyList<TargetSetting> Settings { get; } =
    [
        new(PortProperty, "--local-port", $"The local target's proxy port. Default: {LocalTargetOptions.DefaultProxyPort}."),
    ];

    /// <inheritdoc />
    public IDeploymentTarget Create(TargetContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var value = context.Setting(PortProperty);
        var port = value is null ? LocalTargetOptions.DefaultProxyPort
            : int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536 ? p
            : throw new ImmutableBuildException("IMB6104", $"{PortProperty}='{value}' is not a TCP port; give a number from 1 to 65535.");
        return new LocalTarget(new LocalTargetOptions(context.StateDirectory, context.HostAssembly, port) { Log = context.Log.Detail, Time = context.Time });
    }
}
