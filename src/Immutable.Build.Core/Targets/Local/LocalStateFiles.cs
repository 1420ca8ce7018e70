using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Immutable.Build.Targets.Local;

/// <summary>
/// The state directory that the target, the host and <c>immutable local stop</c> share: created private to the
/// user (host.json holds the control token), and its host files read tolerantly (a file being replaced or left by
/// a killed host reads as none).
/// </summary>
internal static class LocalStateFiles
{
    /// <summary>Creates the state directory private to the user, or makes an existing one so; returns its full path.</summary>
    public static string EnsureDirectory(string stateDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        var full = Path.GetFullPath(stateDirectory);
        try
        {
            return PrivateFiles.CreateDirectory(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw LocalErrors.StateDirectory(full, e);
        }
    }

    public static async Task<LocalHostFile?> ReadHostFileAsync(string stateDirectory, CancellationToken ct) =>
        await ReadJsonAsync(Path.Combine(stateDirectory, LocalHostControl.HostFileName), LocalJsonContext.Default.LocalHostFile, ct);

    public static async Task<LocalHostState?> ReadStateAsync(string stateDirectory, CancellationToken ct) =>
        await ReadJsonAsync(Path.Combine(stateDirectory, LocalHostControl.HostStateName), LocalJsonContext.Default.LocalHostState, ct);

    private static async Task<T?> ReadJsonAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken ct)
        where T : class
    {
        try
        {
            var bytes = await File.ReadAllBytesAsync(path, ct);
            return JsonSerializer.Deserialize(bytes, type);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }
}
