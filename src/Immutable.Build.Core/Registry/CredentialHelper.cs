using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;

namespace Immutable.Build.Registry;

/// <summary>
/// Runs Docker's credential helper protocol: <c>docker-credential-&lt;name&gt; get</c> with the server
/// address on stdin answers <c>{"ServerURL","Username","Secret"}</c> on stdout, or exits non-zero
/// with "credentials not found" when it has nothing for that server.
/// </summary>
internal static class CredentialHelper
{
    public static async Task<RegistryCredential?> GetAsync(
        string helper,
        string serverAddress,
        Func<string, string?> environment,
        TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        var program = "docker-credential-" + helper;
        if (helper.Length == 0 || !helper.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw RegistryErrors.Error(RegistryErrors.CredentialHelperFailed, $"'{helper}' is not a credential helper name; fix credHelpers/credsStore in Docker's config.json.");
        }

        var path = Find(program, environment)
            ?? throw RegistryErrors.Error(
                RegistryErrors.CredentialHelperFailed,
                $"{program} is named in Docker's config.json but is not on PATH. Install it, or remove it from credHelpers/credsStore.");

        var info = new ProcessStartInfo(path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        info.ArgumentList.Add("get");
        foreach (var name in new[] { "PATH", "HOME", "DOCKER_CONFIG" })
        {
            if (environment(name) is { } value)
            {
                info.Environment[name] = value;
            }
        }

        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw RegistryErrors.Error(RegistryErrors.CredentialHelperFailed, $"{program} ({path}) could not be started: {e.Message}. Make it executable or reinstall it.", e);
        }

        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(timeout);
        var stdout = process.StandardOutput.ReadToEndAsync(timer.Token);
        var stderr = process.StandardError.ReadToEndAsync(timer.Token);
        try
        {
            try
            {
                await process.StandardInput.WriteAsync(serverAddress.AsMemory(), timer.Token);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The helper closed stdin early; its exit code and output below tell what happened.
            }

            await process.WaitForExitAsync(timer.Token);
            await Task.WhenAll(stdout, stderr);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            cancellationToken.ThrowIfCancellationRequested();
            throw RegistryErrors.Error(RegistryErrors.CredentialHelperFailed, $"{program} get did not answer within {timeout.TotalSeconds:0} s (it may be waiting for a password prompt or a locked keychain). Unlock it or log in again.");
        }

        var output = await stdout;
        if (process.ExitCode != 0)
        {
            if (output.Contains("credentials not found", StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }

            // Only stderr is quoted: stdout is where a helper writes secrets.
            var reason = FirstLine(await stderr);
            throw RegistryErrors.Error(
                RegistryErrors.CredentialHelperFailed,
                $"{program} get failed for {serverAddress} with exit code {process.ExitCode}{(reason.Length > 0 ? ": " + reason : "")}. Fix the helper's login, or remove it from Docker's config.json.");
        }

        CredentialHelperResponse? answer;
        try
        {
            answer = JsonSerializer.Deserialize(output, RegistryJsonContext.Default.CredentialHelperResponse);
        }
        catch (JsonException)
        {
            answer = null;
        }

        if (answer is null)
        {
            throw RegistryErrors.Error(RegistryErrors.CredentialHelperFailed, $"{program} get answered something that is not {{\"Username\",\"Secret\"}} JSON for {serverAddress}. Update or reinstall the helper.");
        }

        if (string.IsNullOrEmpty(answer.Secret))
        {
            return null;
        }

        var source = program;
        return string.IsNullOrEmpty(answer.Username) || answer.Username == RegistryCredential.IdentityTokenUsername
            ? RegistryCredential.FromIdentityToken(answer.Secret, source: source)
            : RegistryCredential.FromPassword(answer.Username, answer.Secret, source);
    }

    /// <summary>Searches PATH as the helper's environment has it, so a test or a caller can supply its own PATH.</summary>
    internal static string? Find(string program, Func<string, string?> environment)
    {
        var path = environment("PATH") ?? "";
        var extensions = OperatingSystem.IsWindows()
            ? (environment("PATHEXT") ?? ".EXE;.CMD;.BAT").Split(';', StringSplitOptions.RemoveEmptyEntries).Prepend("")
            : [""];
        foreach (var dir in path.Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var extension in extensions)
            {
                var candidate = System.IO.Path.Combine(dir.Trim('"'), program + extension);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    private static string FirstLine(string text)
    {
        var line = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        return line.Length > 200 ? line[..200] + "..." : line;
    }
}
