namespace Immutable.Build.Docker.Tests;

/// <summary>The test stand-in for a remote Docker host: a TCP (optionally mutual TLS) forwarder to the engine's socket that can be cut.</summary>
public sealed class EngineForwarderTests(DockerEngineFixture engine)
{
    [Fact]
    public async Task The_tls_forwarder_answers_ping_with_the_client_certificate_refuses_without_it_and_can_be_cut_and_resumed()
    {
        engine.Require();
        var certs = TestEnvironment.NewWorkDir("tls");
        var tls = TestCertificates.CreateForwarderTls(certs);
        await using var forwarder = EngineForwarder.Start(engine.SocketPath, tls);
        Assert.Equal($"tcp://127.0.0.1:{forwarder.Port}", forwarder.Endpoint);
        var ca = Path.Combine(certs, "ca.pem");
        var url = $"https://127.0.0.1:{forwarder.Port}/_ping";
        string[] withCertificate = ["-sf", "--max-time", "10", "--cacert", ca, "--cert", Path.Combine(certs, "cert.pem"), "--key", Path.Combine(certs, "key.pem"), url];

        var ping = await Curl(withCertificate);
        Assert.True(ping.ExitCode == 0, ping.Output);
        Assert.Equal("OK", ping.StandardOutput.Trim());

        var anonymous = await Curl(["-sf", "--max-time", "10", "--cacert", ca, url]);
        Assert.NotEqual(0, anonymous.ExitCode);
        Assert.DoesNotContain("OK", anonymous.StandardOutput, StringComparison.Ordinal);

        forwarder.Cut();
        Assert.True(forwarder.IsCut);
        await forwarder.WaitCutAsync(TimeSpan.FromSeconds(1));
        var whileCut = await Curl(withCertificate);
        Assert.NotEqual(0, whileCut.ExitCode);

        forwarder.Resume();
        Assert.False(forwarder.IsCut);
        var resumed = await Curl(withCertificate);
        Assert.True(resumed.ExitCode == 0, resumed.Output);
        Assert.Equal("OK", resumed.StandardOutput.Trim());
    }

    [Fact]
    public async Task The_plain_forwarder_cuts_after_a_matching_request_and_resumes_on_the_same_port()
    {
        engine.Require();
        await using var forwarder = EngineForwarder.Start(engine.SocketPath);
        var port = forwarder.Port;
        string[] ping = ["-sf", "--max-time", "10", $"http://127.0.0.1:{port}/_ping"];

        var before = await Curl(ping);
        Assert.True(before.ExitCode == 0, before.Output);
        Assert.Equal("OK", before.StandardOutput.Trim());

        forwarder.CutAfter("GET /v[0-9.]+/version ", TimeSpan.FromMilliseconds(500));
        var other = await Curl(ping);
        Assert.True(other.ExitCode == 0, other.Output);
        Assert.False(forwarder.IsCut);

        // The matching request still reaches the engine and is answered before the cut.
        var version = await Curl(["-sf", "--max-time", "10", $"http://127.0.0.1:{port}/v1.41/version"]);
        Assert.True(version.ExitCode == 0, version.Output);
        Assert.Contains("ApiVersion", version.StandardOutput, StringComparison.Ordinal);
        await forwarder.WaitCutAsync(TimeSpan.FromSeconds(10));
        Assert.True(forwarder.IsCut);
        var whileCut = await Curl(ping);
        Assert.NotEqual(0, whileCut.ExitCode);

        forwarder.Resume();
        Assert.Equal(port, forwarder.Port);
        var after = await Curl(ping);
        Assert.True(after.ExitCode == 0, after.Output);
        Assert.Equal("OK", after.StandardOutput.Trim());

        // Resume disarmed the trigger.
        var again = await Curl(["-sf", "--max-time", "10", $"http://127.0.0.1:{port}/v1.41/version"]);
        Assert.True(again.ExitCode == 0, again.Output);
        await Task.Delay(800, TestContext.Current.CancellationToken);
        Assert.False(forwarder.IsCut);
    }

    private static Task<ProcessResult> Curl(string[] arguments) =>
        ProcessRunner.RunAsync("curl", arguments, timeout: TimeSpan.FromSeconds(20), cancellationToken: TestContext.Current.CancellationToken);
}
