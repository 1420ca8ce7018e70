using Immutable.Build.Targets.Local;
using System.Text.Json;

namespace Immutable.Build.LocalHost;

/// <summary>
/// host-state.json: what a host leaves for the next one (scopes with their ports and weights, instances to reap).
/// Replaced whole on every change, so a host killed mid-write leaves the previous state, never a torn one.
/// </summary>
internal sealed class HostStateStore(string stateDirectory)
{
    public string Path { get; } = System.IO.Path.Combine(stateDirectory, LocalHostControl.HostStateName);

    /// <summary>The previous host's state; null when there is none or it does not parse (logged, then ignored).</summary>
    public async Task<LocalHostState?> LoadAsync(CancellationToken ct)
    {
        try
        {
            if (File.Exists(Path))
            {
                return JsonSerializer.Deserialize(await File.ReadAllBytesAsync(Path, ct), LocalJsonContext.Default.LocalHostState);
            }
        }
        catch (JsonException e)
        {
            HostLog.Line($"ignoring unreadable {Path}: {e.Message}");
        }

        return null;
    }

    public void Save(LocalHostState state) =>
        AtomicFile.WriteAllBytes(Path, JsonSerializer.SerializeToUtf8Bytes(state, LocalJsonContext.Default.LocalHostState));
}
