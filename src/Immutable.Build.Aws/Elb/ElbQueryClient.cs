using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace Immutable.Build.Aws.Elb;

/// <summary>
/// <see cref="IElbClient"/> over the Elastic Load Balancing v2 Query API (version 2015-12-01): form-encoded POSTs
/// signed with SigV4, XML answers. Error answers become <see cref="ElbException"/>; the "not found" answers the
/// interface defines as absence become nulls and empty lists here, so callers never catch them.
/// </summary>
public sealed class ElbQueryClient : IElbClient, IDisposable
{
    private const string ApiVersion = "2015-12-01";
    private const string SigningName = "elasticloadbalancing";

    // DescribeTags takes at most 20 resources per call.
    private const int TagsPerCall = 20;

    private readonly ElbClientOptions _options;
    private readonly HttpClient _http;

    /// <summary>A client for one endpoint and region.</summary>
    public ElbQueryClient(ElbClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        HttpMessageHandler handler = new SocketsHttpHandler();
        handler = options.WrapHandler?.Invoke(handler) ?? handler;
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = options.Timeout };
    }

    /// <summary>
    /// Sends one action with its parameters (names in the Query API's form, e.g. <c>Names.member.1</c>) and returns the
    /// answer; an error answer throws <see cref="ElbException"/>. Also the way to make calls the interface lacks.
    /// </summary>
    public async Task<XDocument> CallAsync(string action, IReadOnlyList<KeyValuePair<string, string>> parameters, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(action);
        ArgumentNullException.ThrowIfNull(parameters);

        var form = new StringBuilder($"Action={SigV4Signer.Encode(action)}&Version={ApiVersion}");
        foreach (var (name, value) in parameters)
        {
            form.Append('&').Append(SigV4Signer.Encode(name)).Append('=').Append(SigV4Signer.Encode(value));
        }

        var body = Encoding.UTF8.GetBytes(form.ToString());
        using var request = Sign(body);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            // HttpClient reports its own timeout as a cancellation; to a caller it is an endpoint that did not answer,
            // which is what the retry policy treats as transient.
            throw new HttpRequestException($"{action} got no answer within {_options.Timeout.TotalSeconds:0.#}s", e);
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            if (!response.IsSuccessStatusCode)
            {
                throw Error(action, response.StatusCode, text);
            }

            try
            {
                return XDocument.Parse(text);
            }
            catch (XmlException e)
            {
                throw new ElbException(action, null, response.StatusCode, $"{action} answered with something that is not XML ({e.Message})");
            }
        }
    }

    /// <inheritdoc />
    public async Task<ElbTargetGroup> CreateTargetGroupAsync(string name, string vpcId, int port, string healthCheckPath, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tags);
        var parameters = new Parameters
        {
            { "Name", name },
            { "Protocol", "HTTP" },
            { "Port", Number(port) },
            { "VpcId", vpcId },
            { "TargetType", "instance" },
            { "HealthCheckEnabled", "true" },
            { "HealthCheckProtocol", "HTTP" },
            { "HealthCheckPath", healthCheckPath },
        };

        // Sorted so that the same call is the same request, which keeps recorded requests comparable.
        var i = 0;
        foreach (var (key, value) in tags.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            i++;
            parameters.Add($"Tags.member.{Number(i)}.Key", key);
            parameters.Add($"Tags.member.{Number(i)}.Value", value);
        }

        var answer = await CallAsync("CreateTargetGroup", parameters, cancellationToken);
        var created = ElbXml.Result(answer, "CreateTargetGroup").Members("TargetGroups").FirstOrDefault()
            ?? throw new ElbException("CreateTargetGroup", null, HttpStatusCode.OK, "CreateTargetGroup answered without a target group");
        return TargetGroup(created);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ElbTargetGroup>> DescribeTargetGroupsAsync(IReadOnlyCollection<string> arns, CancellationToken cancellationToken) =>
        DescribeTargetGroupsAsync("TargetGroupArns", arns, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<ElbTargetGroup>> DescribeTargetGroupsByNameAsync(IReadOnlyCollection<string> names, CancellationToken cancellationToken) =>
        DescribeTargetGroupsAsync("Names", names, cancellationToken);

    /// <inheritdoc />
    public async Task DeleteTargetGroupAsync(string arn, CancellationToken cancellationToken)
    {
        try
        {
            await CallAsync("DeleteTargetGroup", new Parameters { { "TargetGroupArn", arn } }, cancellationToken);
        }
        catch (ElbException e) when (e.Code == "TargetGroupNotFound")
        {
            // Deleting is how a rollout cleans up, and a second cleanup after a crash must not fail.
        }
    }

    /// <inheritdoc />
    public Task RegisterTargetsAsync(string targetGroupArn, IReadOnlyCollection<string> instanceIds, CancellationToken cancellationToken) =>
        TargetsAsync("RegisterTargets", targetGroupArn, instanceIds, cancellationToken);

    /// <inheritdoc />
    public Task DeregisterTargetsAsync(string targetGroupArn, IReadOnlyCollection<string> instanceIds, CancellationToken cancellationToken) =>
        TargetsAsync("DeregisterTargets", targetGroupArn, instanceIds, cancellationToken);

    /// <inheritdoc />
    public async Task<IReadOnlyList<ElbTargetHealth>> DescribeTargetHealthAsync(string targetGroupArn, CancellationToken cancellationToken)
    {
        var answer = await CallAsync("DescribeTargetHealth", new Parameters { { "TargetGroupArn", targetGroupArn } }, cancellationToken);
        return ElbXml.Result(answer, "DescribeTargetHealth").Members("TargetHealthDescriptions")
            .Select(d =>
            {
                var target = d.Child("Target");
                var health = d.Child("TargetHealth");
                return new ElbTargetHealth(
                    target.Text("Id") ?? "",
                    target.Int("Port"),
                    health.Text("State") ?? "unavailable",
                    health.Text("Reason"),
                    health.Text("Description"));
            })
            .ToList();
    }

    /// <inheritdoc />
    public async Task<ElbListener?> DescribeListenerAsync(string listenerArn, CancellationToken cancellationToken)
    {
        XDocument answer;
        try
        {
            answer = await CallAsync("DescribeListeners", new Parameters { { "ListenerArns.member.1", listenerArn } }, cancellationToken);
        }
        catch (ElbException e) when (e.Code == "ListenerNotFound")
        {
            return null;
        }

        var listener = ElbXml.Result(answer, "DescribeListeners").Members("Listeners").FirstOrDefault();
        if (listener is null)
        {
            return null;
        }

        var actions = listener.Members("DefaultActions")
            .OrderBy(a => a.Int("Order") ?? int.MaxValue)
            .Select(Action)
            .ToList();
        return new ElbListener(
            listener.Text("ListenerArn") ?? listenerArn,
            listener.Text("LoadBalancerArn") ?? "",
            listener.Int("Port") ?? 0,
            listener.Text("Protocol") ?? "",
            actions);
    }

    /// <inheritdoc />
    public async Task ModifyListenerForwardAsync(string listenerArn, IReadOnlyList<ElbWeightedTargetGroup> targetGroups, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(targetGroups);
        if (targetGroups.Count == 0)
        {
            throw new ArgumentException("A forward needs at least one target group.", nameof(targetGroups));
        }

        var parameters = new Parameters
        {
            { "ListenerArn", listenerArn },
            { "DefaultActions.member.1.Type", "forward" },
        };
        for (var i = 0; i < targetGroups.Count; i++)
        {
            var group = targetGroups[i];
            if (group.Weight is < 0 or > 999)
            {
                throw new ArgumentOutOfRangeException(nameof(targetGroups), group.Weight, $"The weight of {group.TargetGroupArn} must be 0-999.");
            }

            var prefix = $"DefaultActions.member.1.ForwardConfig.TargetGroups.member.{Number(i + 1)}";
            parameters.Add(prefix + ".TargetGroupArn", group.TargetGroupArn);
            parameters.Add(prefix + ".Weight", Number(group.Weight));
        }

        await CallAsync("ModifyListener", parameters, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<ElbLoadBalancer?> DescribeLoadBalancerAsync(string loadBalancerArn, CancellationToken cancellationToken)
    {
        XDocument answer;
        try
        {
            answer = await CallAsync("DescribeLoadBalancers", new Parameters { { "LoadBalancerArns.member.1", loadBalancerArn } }, cancellationToken);
        }
        catch (ElbException e) when (e.Code == "LoadBalancerNotFound")
        {
            return null;
        }

        var balancer = ElbXml.Result(answer, "DescribeLoadBalancers").Members("LoadBalancers").FirstOrDefault();
        return balancer is null
            ? null
            : new ElbLoadBalancer(balancer.Text("LoadBalancerArn") ?? loadBalancerArn, balancer.Text("LoadBalancerName") ?? "", balancer.Text("DNSName"), balancer.Text("VpcId"));
    }

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, string>> DescribeTargetGroupAttributesAsync(string targetGroupArn, CancellationToken cancellationToken)
    {
        var answer = await CallAsync("DescribeTargetGroupAttributes", new Parameters { { "TargetGroupArn", targetGroupArn } }, cancellationToken);
        return ElbXml.Result(answer, "DescribeTargetGroupAttributes").Pairs("Attributes");
    }

    /// <inheritdoc />
    public async Task ModifyTargetGroupAttributesAsync(string targetGroupArn, IReadOnlyDictionary<string, string> attributes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attributes);
        if (attributes.Count == 0)
        {
            return;
        }

        var parameters = new Parameters { { "TargetGroupArn", targetGroupArn } };
        var i = 0;
        foreach (var (key, value) in attributes.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            i++;
            parameters.Add($"Attributes.member.{Number(i)}.Key", key);
            parameters.Add($"Attributes.member.{Number(i)}.Value", value);
        }

        await CallAsync("ModifyTargetGroupAttributes", parameters, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>> DescribeTagsAsync(IReadOnlyCollection<string> arns, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arns);
        var tags = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        foreach (var chunk in arns.Distinct(StringComparer.Ordinal).Chunk(TagsPerCall))
        {
            var parameters = new Parameters();
            for (var i = 0; i < chunk.Length; i++)
            {
                parameters.Add($"ResourceArns.member.{Number(i + 1)}", chunk[i]);
            }

            var answer = await CallAsync("DescribeTags", parameters, cancellationToken);
            foreach (var description in ElbXml.Result(answer, "DescribeTags").Members("TagDescriptions"))
            {
                if (description.Text("ResourceArn") is { } arn)
                {
                    tags[arn] = description.Pairs("Tags");
                }
            }
        }

        return tags;
    }

    /// <summary>Closes the HTTP connections.</summary>
    public void Dispose() => _http.Dispose();

    private async Task<IReadOnlyList<ElbTargetGroup>> DescribeTargetGroupsAsync(string filter, IReadOnlyCollection<string> keys, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var distinct = keys.Distinct(StringComparer.Ordinal).ToList();

        // An empty filter would mean every target group of the account, which is never what a caller with no keys wants.
        if (distinct.Count == 0)
        {
            return [];
        }

        try
        {
            return await DescribeTargetGroupPagesAsync(filter, distinct, ct);
        }
        catch (ElbException e) when (e.Code == "TargetGroupNotFound" && distinct.Count > 1)
        {
            // AWS refuses the whole call when one key is missing and does not say which; asking one by one costs a
            // call per key, but only on this path, and finds the ones that are there.
            var found = new List<ElbTargetGroup>();
            foreach (var key in distinct)
            {
                try
                {
                    found.AddRange(await DescribeTargetGroupPagesAsync(filter, [key], ct));
                }
                catch (ElbException one) when (one.Code == "TargetGroupNotFound")
                {
                }
            }

            return found;
        }
        catch (ElbException e) when (e.Code == "TargetGroupNotFound")
        {
            return [];
        }
    }

    private async Task<List<ElbTargetGroup>> DescribeTargetGroupPagesAsync(string filter, IReadOnlyList<string> keys, CancellationToken ct)
    {
        var groups = new List<ElbTargetGroup>();
        string? marker = null;
        do
        {
            var parameters = new Parameters();
            for (var i = 0; i < keys.Count; i++)
            {
                parameters.Add($"{filter}.member.{Number(i + 1)}", keys[i]);
            }

            if (marker is not null)
            {
                parameters.Add("Marker", marker);
            }

            var result = ElbXml.Result(await CallAsync("DescribeTargetGroups", parameters, ct), "DescribeTargetGroups");
            groups.AddRange(result.Members("TargetGroups").Select(TargetGroup));
            marker = result.Text("NextMarker");
        }
        while (marker is not null);

        return groups;
    }

    private async Task TargetsAsync(string action, string targetGroupArn, IReadOnlyCollection<string> instanceIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(instanceIds);

        // AWS refuses an empty target list; registering nobody is simply nothing to do.
        if (instanceIds.Count == 0)
        {
            return;
        }

        var parameters = new Parameters { { "TargetGroupArn", targetGroupArn } };
        var i = 0;
        foreach (var id in instanceIds)
        {
            i++;
            parameters.Add($"Targets.member.{Number(i)}.Id", id);
        }

        await CallAsync(action, parameters, ct);
    }

    private HttpRequestMessage Sign(byte[] body)
    {
        var credentials = _options.Credentials();
        var time = _options.Time.GetUtcNow();
        var amzDate = SigV4Signer.AmzDate(time);
        const string contentType = "application/x-www-form-urlencoded; charset=utf-8";

        var headers = new List<KeyValuePair<string, string>>
        {
            new("content-type", contentType),
            new("host", _options.Endpoint.Authority),
            new("x-amz-date", amzDate),
        };
        var token = credentials.UseToken ? credentials.Token : null;
        if (!string.IsNullOrEmpty(token))
        {
            headers.Add(new("x-amz-security-token", token));
        }

        var path = string.IsNullOrEmpty(_options.Endpoint.AbsolutePath) ? "/" : _options.Endpoint.AbsolutePath;
        var authorization = SigV4Signer.Authorization(
            new SigV4Request("POST", path, [], headers, body),
            credentials.AccessKey,
            credentials.SecretKey,
            _options.Region,
            SigningName,
            time);

        var request = new HttpRequestMessage(HttpMethod.Post, _options.Endpoint) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        request.Headers.TryAddWithoutValidation("X-Amz-Date", amzDate);
        if (!string.IsNullOrEmpty(token))
        {
            request.Headers.TryAddWithoutValidation("X-Amz-Security-Token", token);
        }

        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        return request;
    }

    private static ElbException Error(string action, HttpStatusCode status, string text)
    {
        string? code = null;
        string? message = null;
        try
        {
            var error = XDocument.Parse(text).Descendants().FirstOrDefault(e => e.Name.LocalName == "Error");
            code = error.Text("Code");
            message = error.Text("Message");
        }
        catch (XmlException)
        {
            // Not an AWS error answer (a proxy's page, say): the status is all there is to go on.
        }

        return new ElbException(action, code, status, message ?? $"{action} failed with HTTP {(int)status} {status}");
    }

    private static ElbTargetGroup TargetGroup(XElement group) => new(
        group.Text("TargetGroupArn") ?? "",
        group.Text("TargetGroupName") ?? "",
        group.Int("Port") ?? 0,
        group.Text("VpcId"),
        group.Members("LoadBalancerArns").Select(m => m.Value.Trim()).Where(v => v.Length > 0).ToList());

    private static ElbAction Action(XElement action)
    {
        var weighted = action.Child("ForwardConfig").Members("TargetGroups")
            .Where(m => m.Text("TargetGroupArn") is not null)
            .Select(m => new ElbWeightedTargetGroup(m.Text("TargetGroupArn")!, m.Int("Weight") ?? 1))
            .ToList();

        // A forward written with TargetGroupArn alone is one group taking all the traffic.
        if (weighted.Count == 0 && action.Text("TargetGroupArn") is { } single)
        {
            weighted.Add(new ElbWeightedTargetGroup(single, 1));
        }

        return new ElbAction(action.Text("Type") ?? "", weighted);
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The parameters of one call, in the order they are sent.</summary>
    private sealed class Parameters : List<KeyValuePair<string, string>>
    {
        public void Add(string name, string value) => Add(new KeyValuePair<string, string>(name, value));
    }
}
