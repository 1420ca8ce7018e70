using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Immutable.Build.Testing;

/// <summary>
/// A second real docker-registry, this one with htpasswd (Basic) authentication, on a free
/// loopback port with its own storage. The shared registry of tests/infra is open, so the only
/// way to see this client authenticate against the real thing is a registry of its own. Started
/// and stopped by PID with this test class; bcrypt hashes come from python3's crypt module.
/// </summary>
public sealed class BasicAuthRegistryFixture : InfraFixture
{
    private Process? _process;
    private string? _dir;

    /// <summary>host:port.</summary>
    public string Address { get; private set; } = "";

    /// <summary>The one user the registry knows.</summary>
    public string Username => "imb-tester";

    /// <summary>That user's password, random per run.</summary>
    public string Password { get; } = "pw-" + Guid.NewGuid().ToString("N");

    /// <inheritdoc />
    protected override string Name => "an htpasswd-protected docker-registry";

    /// <inheritdoc />
    protected override async Task StartAsync()
    {
        const string program = "/usr/bin/docker-registry";
        if (!File.Exists(program))
        {
            throw new InvalidOperationException($"{program} is not installed; tests/infra/install.sh installs docker-registry");
        }

        var dir = _dir = TestEnvironment.NewWorkDir("auth-registry");
        await File.WriteAllTextAsync(Path.Combine(dir, "htpasswd"), $"{Username}:{await BcryptAsync(Password)}\n");
        var port = TestNetwork.FreePort();
        Address = $"127.0.0.1:{port}";
        var config = Path.Combine(dir, "config.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {dir}/storage
              delete:
                enabled: true
            http:
              addr: {Address}
              secret: immutable-build-auth-tests
            auth:
              htpasswd:
                realm: immutable-build-tests
                path: {dir}/htpasswd

            """);
        var logPath = Path.Combine(dir, "registry.log");
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("serve");
        info.ArgumentList.Add(config);
        _process = Process.Start(info) ?? throw new InvalidOperationException("docker-registry did not start");
        var log = new StreamWriter(logPath) { AutoFlush = true };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        for (var i = 0; i < 300; i++)
        {
            if (_process.HasExited)
            {
                break;
            }

            try
            {
                using var response = await http.GetAsync(new Uri($"http://{Address}/v2/"));
                if (response.StatusCode == HttpStatusCode.Unauthorized)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        await StopAsync();
        throw new InvalidOperationException($"docker-registry with htpasswd did not answer 401 on {Address}; log:\n{await File.ReadAllTextAsync(logPath)}");
    }

    /// <inheritdoc />
    protected override async Task StopAsync()
    {
        if (_process is null)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
        if (_dir is not null && Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static async Task<string> BcryptAsync(string password)
    {
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var info = new ProcessStartInfo(python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-W");
        info.ArgumentList.Add("ignore");
        info.ArgumentList.Add("-c");
        // The registry checks the hash on every request: bcrypt's default cost (2^12) makes each one take a quarter of a
        // second of CPU, seconds on two busy cores. The lowest cost keeps a test's timeouts about the network, not bcrypt.
        info.ArgumentList.Add("import crypt, sys; print(crypt.crypt(sys.stdin.readline().strip(), crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))");
        using var process = Process.Start(info) ?? throw new InvalidOperationException("python3 did not start");
        await process.StandardInput.WriteLineAsync(password);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var hash = output.Trim();
        return process.ExitCode == 0 && hash.StartsWith("$2", StringComparison.Ordinal)
            ? hash
            : throw new InvalidOperationException($"python3 could not make a bcrypt hash for htpasswd (its crypt module is needed): {error}");
    }

}
