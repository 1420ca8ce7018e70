using Docker.DotNet;

namespace Immutable.Build.Docker;

/// <summary>
/// The Engine API client of one host, and how its failures become errors: every call that fails because the engine
/// is away or answers with an error is IMB5003 naming the host and what was being done, the one code the target
/// retries.
/// </summary>
internal sealed class DockerCalls
{
    private readonly Lazy<IDockerClient> _client;

    public DockerCalls(DockerHostEntry entry, DockerTargetOptions options)
    {
        Entry = entry;
        Options = options;
        _client = new Lazy<IDockerClient>(() => entry.Endpoint.CreateClient(options.TlsCertPath));
    }

    public DockerHostEntry Entry { get; }

    public DockerTargetOptions Options { get; }

    /// <summary>How errors and the audit trail name the host.</summary>
    public string Name => Entry.Name;

    public IDockerClient Client => _client.Value;

    public async Task<T> Call<T>(string what, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (IsHostFailure(e))
        {
            throw DockerErrors.Host(Name, what, e);
        }
    }

    public async Task Call(string what, Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (Exception e) when (IsHostFailure(e))
        {
            throw DockerErrors.Host(Name, what, e);
        }
    }

    /// <summary>What an unreachable or failing engine throws (the client wraps some of it in AggregateException); not our own errors or a cancellation.</summary>
    public static bool IsHostFailure(Exception e) => e is not ImmutableBuildException and not OperationCanceledException and not ArgumentException;

    public static async Task TryAsync(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (Exception e) when (IsHostFailure(e))
        {
            // Clean-up only; what it leaves is found and removed by the next run.
        }
    }
}
