namespace Immutable.Build.Targets.Local;

/// <summary>The IMB7xxx codes of the local target, each with its cause and fix, and one factory per code so messages stay consistent.</summary>
internal static class LocalErrors
{
    [ErrorCode(
        "The local host did not start or did not answer within the start timeout.",
        "Read <state dir>/host.log, run `immutable local stop`, and deploy again.")]
    public const string HostUnavailableCode = "IMB7001";

    [ErrorCode(
        "The local host assembly (Immutable.Build.LocalHost.dll) or the dotnet executable was not found.",
        "Reinstall the package or tool, or give LocalTargetOptions.HostAssemblyPath / DotnetPath.")]
    public const string HostMissingCode = "IMB7002";

    [ErrorCode(
        "The local host refused the control token (host.json belongs to another host, or was edited).",
        "Run `immutable local stop` and deploy again.")]
    public const string TokenRefusedCode = "IMB7003";

    [ErrorCode(
        "The proxy port of the app and environment (ImmutableLocalPort, default 5080) is used by another program or by another app's proxy; it is checked before anything is deployed.",
        "Set ImmutableLocalPort to a free port, or stop what holds it.")]
    public const string PortInUseCode = "IMB7004";

    [ErrorCode(
        "The image has no command the local target can run (no Entrypoint or Cmd, or its program is neither dotnet nor a file inside the image).",
        "Set ContainerEntrypoint / ContainerAppCommand, or publish a framework-dependent app.")]
    public const string NoCommandCode = "IMB7008";

    [ErrorCode(
        "A launch, route or decommission request is invalid (replicas below 1, a group name with other characters than a-z 0-9 - _ ., weights that are negative or do not sum to 100).",
        "Correct the value named in the message.")]
    public const string InvalidRequestCode = "IMB7009";

    [ErrorCode(
        "An instance process could not be started by the local host.",
        "Read the instance log named in the message; check that the .NET runtime the app needs is installed.")]
    public const string InstanceStartCode = "IMB7010";

    [ErrorCode(
        "The local host answered with an error or something that is not its protocol (another program on its port, or a host of another version).",
        "Run `immutable local stop` and deploy again.")]
    public const string ProtocolCode = "IMB7011";

    [ErrorCode(
        "The state directory cannot be created or written.",
        "Set IMMUTABLE_STATE_DIR (ImmutableStateDir) to a writable folder.")]
    public const string StateDirectoryCode = "IMB7012";

    public static ImmutableBuildException HostUnavailable(string stateDirectory, string why) =>
        new(HostUnavailableCode, $"The local host of {stateDirectory} is not available: {why}. Read {Path.Combine(stateDirectory, "host.log")}, run `immutable local stop`, and deploy again.");

    public static ImmutableBuildException HostMissing(string what, string path) =>
        new(HostMissingCode, $"{what} '{path}' does not exist. Reinstall Immutable.Build (the package or the `immutable` tool), or set the path explicitly.");

    public static ImmutableBuildException TokenRefused(string stateDirectory) =>
        new(TokenRefusedCode, $"The local host of {stateDirectory} refused the control token of host.json. Run `immutable local stop` and deploy again.");

    public static ImmutableBuildException PortInUse(int port, string why) =>
        new(PortInUseCode, $"The proxy cannot listen on 127.0.0.1:{port}: {why}. Set ImmutableLocalPort to a free port, or stop what holds {port}.");

    public static ImmutableBuildException NoCommand(string image, string why) =>
        new(NoCommandCode, $"The image {image} has no command the local target can run: {why}. Set ContainerEntrypoint or ContainerAppCommand, or publish a framework-dependent app.");

    public static ImmutableBuildException InvalidRequest(string what) =>
        new(InvalidRequestCode, $"{what}.");

    public static ImmutableBuildException InstanceStart(string why) =>
        new(InstanceStartCode, $"An instance could not be started: {why}. Check that the .NET runtime the app needs is installed.");

    public static ImmutableBuildException Protocol(string stateDirectory, string why) =>
        new(ProtocolCode, $"The local host of {stateDirectory} answered unexpectedly: {why}. Run `immutable local stop` and deploy again.");

    public static ImmutableBuildException StateDirectory(string directory, Exception inner) =>
        new(StateDirectoryCode, $"The state directory '{directory}' cannot be used: {inner.Message}. Set IMMUTABLE_STATE_DIR (ImmutableStateDir) to a writable folder.", inner);
}
