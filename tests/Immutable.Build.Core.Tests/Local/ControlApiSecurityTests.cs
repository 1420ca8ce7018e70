using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using Immutable.Build.Deployments;
using Immutable.Build.Rollout;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Core.Tests.Local;

/// <summary>
/// Issue 14: the local host's control API starts and stops processes for whoever holds its token, so it answers
/// only that token (compared in constant time), only on the loopback address, and nothing of it is reachable
/// through the app's proxy port. The file modes of host.json and the state are <see cref="StateFileModesTests"/>'.
/// </summary>
[Collection(LocalTargetCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ControlApiSecurityTests(SampleReleaseFixture sample) : LocalTargetTestBase(sample)
{
    [Fact]
    public async Task A_request_without_the_token_or_with_a_wrong_one_is_refused_and_does_nothing()
    {
        var (pid, port, token) = await StartHostAsync();
        var wrong = new string(token.Select(c => c == '0' ? '1' : '0').ToArray()); // same length, every character different
        string?[] refused =
        [
            null,
            "Bearer " + wrong,
            "Bearer " + token[..^1],
            "Bearer " + token + "0",
            "Bearer " + token.ToUpperInvariant(),
            "Basic " + token,
            token,
            "Bearer",
            "Bearer  " + token,
        ];

        foreach (var authorization in refused.Where(a => a != "Bearer " + token))
        {
            foreach (var (method, path) in new[] { ("GET", "v1/host"), ("GET", "v1/instances"), ("POST", "v1/shutdown"), ("PUT", "v1/scopes/intruder"), ("POST", "v1/scopes/intruder/prune") })
            {
                var (status, body) = await SendAsync(port, method, path, authorization, "{\"graceMilliseconds\":0}");
                Assert.True(status == HttpStatusCode.Unauthorized, $"{method} /{path} with Authorization '{authorization}' answered {(int)status}: {body}");
                Assert.DoesNotContain(token, body, StringComparison.Ordinal);
                Assert.DoesNotContain(pid.ToString(CultureInfo.InvariantCulture), body, StringComparison.Ordinal);
            }
        }

        // The token in the query string is not the header either.
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(port, "GET", $"v1/host?access_token={token}", null)).Status);

        // None of those shut the host down or made a scope; the right token is answered.
        Assert.True(IsAlive(pid), "a refused shutdown stopped the host");
        var (ok, host) = await SendAsync(port, "GET", "v1/host", "Bearer " + token);
        Assert.Equal(HttpStatusCode.OK, ok);
        using (var answer = System.Text.Json.JsonDocument.Parse(host))
        {
            Assert.Equal(pid, answer.RootElement.GetProperty("pid").GetInt32());
        }

        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(port, "GET", "v1/scopes/intruder", "Bearer " + token)).Status);
    }

    [Fact]
    public void The_token_is_compared_in_constant_time()
    {
        // Read from the built host's IL, not by timing requests: a timing test on a shared 2-core machine proves nothing.
        var calls = CallsOf(SampleReleaseFixture.HostAssembly, "Immutable.Build.LocalHost.ControlApi", "Authorized");
        Assert.Contains("System.Security.Cryptography.CryptographicOperations.FixedTimeEquals", calls);
        var early = calls.Where(c => c.EndsWith(".op_Equality", StringComparison.Ordinal) || c.EndsWith("String.Equals", StringComparison.Ordinal) || c.Contains("SequenceEqual", StringComparison.Ordinal) || c.EndsWith("String.CompareOrdinal", StringComparison.Ordinal)).ToList();
        Assert.True(early.Count == 0, "the token check also compares with an early-exit comparison: " + string.Join(", ", early));
    }

    [Fact]
    public async Task The_control_api_listens_on_the_loopback_address_only()
    {
        var (_, port, token) = await StartHostAsync();

        var bound = ListeningAddresses(port);
        Assert.NotEmpty(bound);
        Assert.All(bound, a => Assert.True(IPAddress.IsLoopback(a), $"the control port {port} is bound to {a}"));

        // Bound to 127.0.0.1 itself, not to every address: another loopback address and ::1 get no answer.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(port, "GET", "v1/host", "Bearer " + token)).Status);
        foreach (var other in new[] { IPAddress.Parse("127.0.0.2"), IPAddress.IPv6Loopback })
        {
            using var socket = new Socket(other.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            var e = await Assert.ThrowsAnyAsync<SocketException>(async () => await socket.ConnectAsync(new IPEndPoint(other, port), Ct));
            Assert.True(e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable or SocketError.NetworkUnreachable, $"{other}:{port}: {e.SocketErrorCode}");
        }
    }

    [Fact(Timeout = 240_000)]
    public async Task The_proxy_port_takes_no_control_action_even_with_the_token()
    {
        var ct = TestContext.Current.CancellationToken;
        var engine = new RolloutEngine(Target, new RolloutEngineOptions { StateDirectory = StateDirectory, StartTimeout = TimeSpan.FromSeconds(60), Drain = TimeSpan.Zero, GetEnvironmentVariable = _ => null });
        using var kept = await ReleaseStore.KeepAsync(StateDirectory, Scope, Sample.Release, ReleaseLog.None, TimeProvider.System, ct);
        Assert.Equal(RolloutOutcomes.Succeeded, (await engine.DeployAsync(Scope, kept.Release, RolloutStrategy.BlueGreen(1), ct)).Outcome);
        var file = await LocalStateFiles.ReadHostFileAsync(StateDirectory, Ct) ?? throw new InvalidOperationException("no host.json");
        var bearer = "Bearer " + file.Token;
        var proxy = await ProxyAsync();
        Assert.NotEqual(file.ControlPort, proxy.Port);
        var instancesBefore = (await SendAsync(file.ControlPort, "GET", "v1/instances", bearer)).Body;
        var scopeBefore = (await SendAsync(file.ControlPort, "GET", $"v1/scopes/{Scope.Key}", bearer)).Body;

        foreach (var (method, path, body) in new[]
        {
            ("GET", "v1/host", null),
            ("GET", "v1/instances", null),
            ("GET", $"v1/scopes/{Scope.Key}", null),
            ("PUT", $"v1/scopes/{Scope.Key}/weights", "{\"weights\":{}}"),
            ("POST", $"v1/scopes/{Scope.Key}/prune", "{}"),
            ("POST", $"v1/scopes/{Scope.Key}/groups/blue/stop", "{\"drainMilliseconds\":0,\"graceMilliseconds\":0}"),
            ("POST", $"v1/scopes/{Scope.Key}/groups/green/stop", "{\"drainMilliseconds\":0,\"graceMilliseconds\":0}"),
            ("PUT", "v1/scopes/intruder", "{}"),
            ("POST", "v1/shutdown", "{\"graceMilliseconds\":0}"),
        })
        {
            var (status, answer) = await SendAsync(proxy.Port, method, path, bearer, body);
            // What answers is the app (its own 404/405), never the control API's JSON.
            Assert.DoesNotContain("\"pid\"", answer, StringComparison.Ordinal);
            Assert.DoesNotContain("\"instances\"", answer, StringComparison.Ordinal);
            Assert.DoesNotContain("IMB", answer, StringComparison.Ordinal);
            Assert.NotEqual(HttpStatusCode.Accepted, status);
        }

        Assert.True(IsAlive(file.Pid), "a shutdown sent to the proxy port stopped the host");
        Assert.Equal(instancesBefore, (await SendAsync(file.ControlPort, "GET", "v1/instances", bearer)).Body);
        Assert.Equal(scopeBefore, (await SendAsync(file.ControlPort, "GET", $"v1/scopes/{Scope.Key}", bearer)).Body);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(file.ControlPort, "GET", "v1/scopes/intruder", bearer)).Status);
        Assert.Equal(Sample.Release.ReleaseId, (await VersionAsync(proxy)).ReleaseId);
    }

    private async Task<(int Pid, int Port, string Token)> StartHostAsync()
    {
        using var control = await LocalHostControl.ConnectOrStartAsync(new LocalTargetOptions(StateDirectory, SampleReleaseFixture.HostAssembly, ProxyPort: 0), Ct);
        var file = await LocalStateFiles.ReadHostFileAsync(StateDirectory, Ct) ?? throw new InvalidOperationException("no host.json");
        Assert.Equal(64, file.Token.Length);
        return (file.Pid, file.ControlPort, file.Token);
    }

    private async Task<(HttpStatusCode Status, string Body)> SendAsync(int port, string method, string path, string? authorization, string? body = null)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri($"http://127.0.0.1:{port}/{path}"));
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        if (body is not null && method != "GET")
        {
            request.Content = new StringContent(body, MediaTypeHeaderValue.Parse("application/json"));
        }

        using var response = await Http.SendAsync(request, Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    /// <summary>The local addresses the kernel has a listening TCP socket on <paramref name="port"/> for.</summary>
    private static List<IPAddress> ListeningAddresses(int port)
    {
        var found = new List<IPAddress>();
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var local = fields[1].Split(':');
                if (fields[3] != "0A" || int.Parse(local[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) != port)
                {
                    continue; // 0A is TCP_LISTEN
                }

                // The kernel prints the address as 32-bit words in host (little-endian) order.
                var bytes = Convert.FromHexString(local[0]);
                for (var w = 0; w < bytes.Length; w += 4)
                {
                    Array.Reverse(bytes, w, 4);
                }

                found.Add(new IPAddress(bytes));
            }
        }

        return found;
    }

    /// <summary>The methods (Namespace.Type.Name) that <paramref name="method"/> of <paramref name="type"/> calls, read from the IL.</summary>
    private static List<string> CallsOf(string assembly, string type, string method)
    {
        using var pe = new PEReader(File.OpenRead(assembly));
        var md = pe.GetMetadataReader();
        var definition = md.TypeDefinitions.Select(md.GetTypeDefinition)
            .Single(t => $"{md.GetString(t.Namespace)}.{md.GetString(t.Name)}" == type)
            .GetMethods().Select(md.GetMethodDefinition).Single(m => md.GetString(m.Name) == method);
        var il = pe.GetMethodBody(definition.RelativeVirtualAddress).GetILBytes()!;
        var calls = new List<string>();
        for (var i = 0; i + 4 < il.Length; i++)
        {
            // call (0x28) or callvirt (0x6F) followed by a MemberRef (0x0A) or MethodDef (0x06) token.
            if (il[i] is not (0x28 or 0x6F) || il[i + 4] is not (0x0A or 0x06))
            {
                continue;
            }

            var handle = MetadataTokens.EntityHandle(BitConverter.ToInt32(il, i + 1));
            if (handle.Kind == HandleKind.MemberReference)
            {
                var member = md.GetMemberReference((MemberReferenceHandle)handle);
                if (member.Parent.Kind == HandleKind.TypeReference)
                {
                    var parent = md.GetTypeReference((TypeReferenceHandle)member.Parent);
                    calls.Add($"{md.GetString(parent.Namespace)}.{md.GetString(parent.Name)}.{md.GetString(member.Name)}");
                }
                else
                {
                    calls.Add("?." + md.GetString(member.Name));
                }
            }
        }

        return calls;
    }
}
