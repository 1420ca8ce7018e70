using Xunit;

namespace Immutable.Build.Testing;

/// <summary>
/// A piece of real infrastructure started by a script under tests/infra. It starts once per test
/// assembly (the scripts reuse an instance that is already up) and stops on dispose only what it
/// started itself. A test calls <see cref="Require"/>: when the infrastructure could not start, the
/// test fails under CI=true and is skipped elsewhere, with the script's output and log tail as reason.
/// </summary>
public abstract class InfraFixture : IAsyncLifetime
{
    private string? _failure;

    /// <summary>A short name for messages, e.g. "OCI registry".</summary>
    protected abstract string Name { get; }

    /// <summary>Starts the infrastructure (idempotent) and reads its address.</summary>
    protected abstract Task StartAsync();

    /// <summary>Stops what <see cref="StartAsync"/> started.</summary>
    protected virtual Task StopAsync() => Task.CompletedTask;

    /// <summary>Whether this fixture found the infrastructure already running (then it leaves it running).</summary>
    protected bool WasRunning { get; set; }

    /// <inheritdoc />
    public async ValueTask InitializeAsync()
    {
        try
        {
            await StartAsync();
        }
        catch (Exception e)
        {
            _failure = e.Message;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        if (_failure is null && !WasRunning)
        {
            await StopAsync();
        }
    }

    /// <summary>Fails (CI) or skips (elsewhere) the calling test when the infrastructure is not up.</summary>
    public void Require()
    {
        if (_failure is null)
        {
            return;
        }

        var message = $"{Name} could not be started: {_failure}";
        if (TestEnvironment.IsCI)
        {
            Assert.Fail(message);
        }

        Assert.Skip(message + " (skipped because CI is not 'true'; under CI this fails)");
    }

    /// <summary>Runs one of the infrastructure scripts and returns its standard output.</summary>
    protected static async Task<string> RunScriptAsync(string script, params string[] arguments)
    {
        var path = Path.Combine(TestEnvironment.InfraScripts, script);
        var result = await ProcessRunner.RunAsync(
            "bash",
            [path, .. arguments],
            environment: new Dictionary<string, string?> { ["IMMUTABLE_INFRA_DIR"] = TestEnvironment.InfraDir },
            timeout: TimeSpan.FromMinutes(10));
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} {string.Join(' ', arguments)} exited with {result.ExitCode}:\n{result.Output}\n{LogTail()}");
        }

        return result.StandardOutput;
    }

    /// <summary>Parses KEY=VALUE lines.</summary>
    protected static Dictionary<string, string> ParseEnv(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.Contains('=', StringComparison.Ordinal) && !l.StartsWith('#'))
            .Select(l => l.StartsWith("export ", StringComparison.Ordinal) ? l[7..] : l)
            .ToDictionary(l => l[..l.IndexOf('=', StringComparison.Ordinal)], l => l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..].Trim('"', '\''));

    private static string LogTail()
    {
        var logs = Path.Combine(TestEnvironment.InfraDir, "logs");
        if (!Directory.Exists(logs))
        {
            return "";
        }

        var newest = new DirectoryInfo(logs).GetFiles().OrderByDescending(f => f.LastWriteTimeUtc).FirstOrDefault();
        return newest is null ? "" : $"--- tail of {newest.FullName}\n" + string.Join('\n', File.ReadLines(newest.FullName).TakeLast(30));
    }
}
