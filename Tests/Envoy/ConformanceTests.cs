using System.Globalization;
using Grpc.Net.Client;
using Orleans.Coordinator.Envoy.RateLimit;
using Orleans.Coordinator.Envoy.RateLimit.Common;
using Orleans.Coordinator.Tests.Infrastructure;
using Code = Orleans.Coordinator.Envoy.RateLimit.RateLimitResponse.Types.Code;

namespace Orleans.Coordinator.Tests.Envoy;

/// <summary>One embedded gateway serving the rule files of <c>Tests/Envoy/Conformance</c> (a runtime directory) over gRPC.</summary>
public sealed class ConformanceGateway : IAsyncLifetime
{
    public GatewayHost Gateway { get; private set; } = null!;

    public RateLimitService.RateLimitServiceClient Client { get; private set; } = null!;

    private GrpcChannel _channel = null!;

    public async ValueTask InitializeAsync()
    {
        Gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:GrpcPort"] = RedisServer.FreePort().ToString(CultureInfo.InvariantCulture),
            ["RateLimit:ConfigPath"] = Path.Combine(AppContext.BaseDirectory, "Envoy", "Conformance"),
        });
        _channel = GrpcChannel.ForAddress(Gateway.GrpcAddress!);
        Client = new RateLimitService.RateLimitServiceClient(_channel);
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await Gateway.DisposeAsync();
    }
}

/// <summary>
/// The configuration examples of envoyproxy/ratelimit's README (1 to 11 at the time of writing), each as a test: the same
/// rules (in our own files, one domain name per variant), the same requests, the same expected codes. Every counter is
/// used by one test only. Each assertion about a per-second limit rests on one call (a fresh counter, or hits that
/// pass the limit by themselves), so a window turning over between calls cannot change it.
/// </summary>
public sealed class ConformanceTests(ConformanceGateway fixture) : IClassFixture<ConformanceGateway>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 30_000)]
    public async Task Example1_EachValueHasItsOwnLimit()
    {
        var users = await CallAsync("mongo_cps", 1, D(("database", "users")));
        var usersOver = await CallAsync("mongo_cps", 501, D(("database", "users")));
        var @default = await CallAsync("mongo_cps", 1, D(("database", "default")));
        var other = await CallAsync("mongo_cps", 1, D(("database", "other")));

        AssertLimited(users, Code.Ok, 500, RateLimitResponse.Types.RateLimit.Types.Unit.Second, remaining: 499);
        Assert.Equal(Code.OverLimit, usersOver.OverallCode);
        AssertLimited(@default, Code.Ok, 500, RateLimitResponse.Types.RateLimit.Types.Unit.Second, remaining: 499); // its own counter
        Assert.Equal(Code.Ok, other.OverallCode);
        Assert.Null(other.Statuses[0].CurrentLimit); // no rule for this value
    }

    [Fact(Timeout = 30_000)]
    public async Task Example2_NestedAndFlatRules_AnsweredTogether()
    {
        var marketing = D(("message_type", "marketing"), ("to_number", "2061111111"));
        var anyMessage = D(("to_number", "2061111111"));
        var answers = new List<RateLimitResponse>();
        for (var i = 0; i < 6; i++)
        {
            answers.Add(await CallAsync("messaging", 1, marketing, anyMessage));
        }

        var otherNumber = await CallAsync("messaging", 1, D(("message_type", "marketing"), ("to_number", "2062222222")), D(("to_number", "2062222222")));

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(Code.Ok, answers[i].OverallCode);
            Assert.Equal((uint)(4 - i), answers[i].Statuses[0].LimitRemaining); // 5 marketing messages a day to one number
            Assert.Equal((uint)(99 - i), answers[i].Statuses[1].LimitRemaining); // 100 messages a day to one number
        }

        Assert.Equal(Code.OverLimit, answers[5].OverallCode); // the logical OR of the two decisions
        Assert.Equal(Code.OverLimit, answers[5].Statuses[0].Code);
        Assert.Equal(Code.Ok, answers[5].Statuses[1].Code);
        Assert.Equal(Code.Ok, otherNumber.OverallCode);
        Assert.Equal(4u, otherNumber.Statuses[0].LimitRemaining); // each number has its own counter
    }

    [Fact(Timeout = 30_000)]
    public async Task Example3_KeyAndValue_BeforeTheKeyAlone()
    {
        var anyAddress = await CallAsync("edge_proxy_per_ip", 1, D(("remote_address", "50.0.0.1")));
        var overTen = await CallAsync("edge_proxy_per_ip", 11, D(("remote_address", "50.0.0.2")));
        var blocked = await CallAsync("edge_proxy_per_ip", 1, D(("remote_address", "50.0.0.5")));

        AssertLimited(anyAddress, Code.Ok, 10, RateLimitResponse.Types.RateLimit.Types.Unit.Second, remaining: 9);
        Assert.Equal(Code.OverLimit, overTen.OverallCode);
        AssertLimited(blocked, Code.OverLimit, 0, RateLimitResponse.Types.RateLimit.Types.Unit.Second, remaining: 0);
    }

    [Fact(Timeout = 30_000)]
    public async Task Example4_OnlyRulesWithAsManyLevelsAsEntriesMatch()
    {
        var request = new[] { ("key", "value"), ("subkey", "subvalue") };
        var flat = await CallAsync("example4_flat", 1, D(request));
        var nested = await CallAsync("example4_nested", 1, D(request));

        Assert.Equal(Code.Ok, flat.OverallCode);
        Assert.Null(flat.Statuses[0].CurrentLimit); // two entries never reach a one-level rule
        AssertLimited(nested, Code.Ok, 300, RateLimitResponse.Types.RateLimit.Types.Unit.Second, remaining: 299);
    }

    [Fact(Timeout = 30_000)]
    public async Task Example5_Unlimited_OkWithTheLargestRemaining()
    {
        var ldap = await CallAsync("internal", 1_000_000, D(("ldap", "bind")));
        var azure = await CallAsync("internal", 1, D(("azure", "blob")));

        Assert.Equal(Code.Ok, ldap.OverallCode);
        Assert.Equal(uint.MaxValue, ldap.Statuses[0].LimitRemaining);
        Assert.Null(ldap.Statuses[0].CurrentLimit);
        AssertLimited(azure, Code.Ok, 100, RateLimitResponse.Types.RateLimit.Types.Unit.Minute, remaining: 99);
    }

    [Fact(Timeout = 30_000)]
    public async Task Example6_ShadowModeRule_NeverRefuses_AndIsCounted()
    {
        var userA = await CallAsync("example6", 11, D(("service", "auth-service"), ("user", "user-a")));
        var userBOver = await CallAsync("example6", 21, D(("service", "auth-service"), ("user", "user-b")));
        var userB = await CallAsync("example6", 1, D(("service", "auth-service"), ("user", "user-b")));

        Assert.Equal(Code.Ok, userA.OverallCode); // over its 10 per second, but in shadow mode
        Assert.Equal(Code.OverLimit, userBOver.OverallCode);
        AssertLimited(userB, Code.Ok, 20, RateLimitResponse.Types.RateLimit.Types.Unit.Second, remaining: 19); // the refused hits were not charged
        await WaitForMetricAsync("coordinator_ratelimit_shadow_mode_total", "domain=\"example6\"", "rule=\"service.user_user-a\"");
    }

    [Fact(Timeout = 30_000)]
    public async Task Example7_Replaces_DropsTheReplacedRule_AndLeavesItsCounter()
    {
        var first = D(("key_1", "value_1"), ("user", "bkthomps"));
        var second = D(("key_2", "value_2"), ("user", "bkthomps"));
        var firstAloneOver = await CallAsync("example7", 6, first); // 5 per second: 6 hits are over by themselves
        var both = await CallAsync("example7", 6, first, second); // specific_limit replaced: only 10 per second applies
        var firstAlone = await CallAsync("example7", 5, first); // its counter untouched by the request above

        Assert.Equal(Code.OverLimit, firstAloneOver.OverallCode);
        Assert.Equal(Code.Ok, both.OverallCode);
        Assert.Null(both.Statuses[0].CurrentLimit);
        AssertLimited(both, Code.Ok, 10, RateLimitResponse.Types.RateLimit.Types.Unit.Second, remaining: 4, index: 1);
        AssertLimited(firstAlone, Code.Ok, 5, RateLimitResponse.Types.RateLimit.Types.Unit.Second, remaining: 0);
    }

    [Fact(Timeout = 30_000)]
    public async Task Example8_DetailedMetric_ValuesInTheStatistics()
    {
        var unspecified = await CallAsync("example8", 1, D(("key1", "unspecified_value")));
        var unspecified2 = await CallAsync("example8", 1, D(("key1", "unspecified_value2")));
        var value1 = await CallAsync("example8", 1, D(("key1", "value1")));

        AssertLimited(unspecified, Code.Ok, 10, RateLimitResponse.Types.RateLimit.Types.Unit.Minute, remaining: 9);
        AssertLimited(unspecified2, Code.Ok, 10, RateLimitResponse.Types.RateLimit.Types.Unit.Minute, remaining: 9);
        AssertLimited(value1, Code.Ok, 20, RateLimitResponse.Types.RateLimit.Types.Unit.Minute, remaining: 19);
        await WaitForMetricAsync("coordinator_ratelimit_total_hits_total", "domain=\"example8\"", "descriptor=\"key1_unspecified_value2\"");
    }

    [Fact(Timeout = 30_000)]
    public async Task Example9_Wildcards_Trailing_Middle_Multiple()
    {
        var value1 = await CallAsync("example9_trailing", 1, D(("key1", "value1")));
        var value2 = await CallAsync("example9_trailing", 1, D(("key1", "valueXYZ")));
        var notValue = await CallAsync("example9_trailing", 1, D(("key1", "other")));
        var middle = await CallAsync("example9_middle", 1, D(("path", "/api/123/action")));
        var middleOther = await CallAsync("example9_middle", 1, D(("path", "/api/123/other")));
        var multiple = await CallAsync("example9_multiple", 1, D(("route", "/api/v1/resource/123/action")));
        var multipleOther = await CallAsync("example9_multiple", 1, D(("route", "/api/v1/resource/123/other")));

        AssertLimited(value1, Code.Ok, 20, RateLimitResponse.Types.RateLimit.Types.Unit.Minute, remaining: 19);
        AssertLimited(value2, Code.Ok, 20, RateLimitResponse.Types.RateLimit.Types.Unit.Minute, remaining: 19); // its own counter
        Assert.Null(notValue.Statuses[0].CurrentLimit);
        AssertLimited(middle, Code.Ok, 20, RateLimitResponse.Types.RateLimit.Types.Unit.Minute, remaining: 19);
        Assert.Null(middleOther.Statuses[0].CurrentLimit);
        AssertLimited(multiple, Code.Ok, 20, RateLimitResponse.Types.RateLimit.Types.Unit.Minute, remaining: 19);
        Assert.Null(multipleOther.Statuses[0].CurrentLimit);
    }

    [Fact(Timeout = 30_000)]
    public async Task Example10_ValueToMetric_ValuesOfChosenLevelsInTheStatistics()
    {
        var api = await CallAsync("example10", 1, D(("route", "api"), ("http_method", "GET"), ("subject_id", "123")));
        var web = await CallAsync("example10", 1, D(("route", "web"), ("http_method", "POST"), ("subject_id", "456")));
        var wildcard = await CallAsync("example10_wildcard", 1, D(("user", "alice"), ("action", "readfile"), ("resource", "documents")));

        AssertLimited(api, Code.Ok, 60, RateLimitResponse.Types.RateLimit.Types.Unit.Minute, remaining: 59);
        AssertLimited(web, Code.Ok, 60, RateLimitResponse.Types.RateLimit.Types.Unit.Minute, remaining: 59);
        AssertLimited(wildcard, Code.Ok, 100, RateLimitResponse.Types.RateLimit.Types.Unit.Minute, remaining: 99);
        await WaitForMetricAsync("coordinator_ratelimit_total_hits_total", "domain=\"example10\"", "descriptor=\"route_api.http_method_GET.subject_id\"");
        await WaitForMetricAsync("coordinator_ratelimit_total_hits_total", "domain=\"example10\"", "descriptor=\"route_web.http_method_POST.subject_id\"");
        await WaitForMetricAsync("coordinator_ratelimit_total_hits_total", "domain=\"example10_wildcard\"", "descriptor=\"user_alice.action_readfile.resource\"");
    }

    [Fact(Timeout = 30_000)]
    public async Task Example11_ShareThreshold_OneCounterForEveryMatchedValue()
    {
        var a = await CallAsync("example11", 5, D(("files", "files/a.pdf")));
        var b = await CallAsync("example11", 5, D(("files", "files/b.csv")));
        var c = await CallAsync("example11", 1, D(("files", "files/c.txt")));
        var isolatedA = await CallAsync("example11", 10, D(("files_no_share", "files_no_share/a.pdf")));
        var isolatedB = await CallAsync("example11", 10, D(("files_no_share", "files_no_share/b.csv")));
        var metrics = await CallAsync("example11_metrics", 1, D(("route", "api/v1"), ("method", "GET")));

        AssertLimited(a, Code.Ok, 10, RateLimitResponse.Types.RateLimit.Types.Unit.Hour, remaining: 5);
        AssertLimited(b, Code.Ok, 10, RateLimitResponse.Types.RateLimit.Types.Unit.Hour, remaining: 0); // the same counter as a.pdf
        Assert.Equal(Code.OverLimit, c.OverallCode);
        AssertLimited(isolatedA, Code.Ok, 10, RateLimitResponse.Types.RateLimit.Types.Unit.Hour, remaining: 0);
        AssertLimited(isolatedB, Code.Ok, 10, RateLimitResponse.Types.RateLimit.Types.Unit.Hour, remaining: 0); // its own counter
        AssertLimited(metrics, Code.Ok, 60, RateLimitResponse.Types.RateLimit.Types.Unit.Minute, remaining: 59);
        // The pattern stands for the shared entry; method has no value_to_metric, so its value stays out. (The README's
        // prose writes "route_api.method_GET"; envoyproxy/ratelimit's own config_test.go expects "route_api/*.method".)
        await WaitForMetricAsync("coordinator_ratelimit_total_hits_total", "domain=\"example11_metrics\"", "descriptor=\"route_api/*.method\"");
    }

    private static void AssertLimited(RateLimitResponse response, Code code, uint limit, RateLimitResponse.Types.RateLimit.Types.Unit unit, uint remaining, int index = 0)
    {
        var status = response.Statuses[index];
        Assert.Equal(code, status.Code);
        Assert.NotNull(status.CurrentLimit);
        Assert.Equal(limit, status.CurrentLimit.RequestsPerUnit);
        Assert.Equal(unit, status.CurrentLimit.Unit);
        Assert.Equal(remaining, status.LimitRemaining);
    }

    private Task<RateLimitResponse> CallAsync(string domain, uint hits, params RateLimitDescriptor[] descriptors)
    {
        var request = new RateLimitRequest { Domain = domain, HitsAddend = hits };
        request.Descriptors.AddRange(descriptors);
        return fixture.Client.ShouldRateLimitAsync(request, cancellationToken: Ct).ResponseAsync;
    }

    private static RateLimitDescriptor D(params (string Key, string Value)[] entries)
    {
        var descriptor = new RateLimitDescriptor();
        descriptor.Entries.AddRange(entries.Select(e => new RateLimitDescriptor.Types.Entry { Key = e.Key, Value = e.Value }));
        return descriptor;
    }

    /// <summary>Waits (bounded) until <c>/metrics</c> has a positive sample of <paramref name="name"/> carrying every label given.</summary>
    private async Task WaitForMetricAsync(string name, params string[] labels)
    {
        using var client = fixture.Gateway.CreateClient(null);
        await Wait.UntilAsync(async () =>
        {
            var text = await client.GetStringAsync("/metrics", Ct);
            return text.Split('\n').Any(line => line.StartsWith(name + "{", StringComparison.Ordinal)
                && labels.All(l => line.Contains(l, StringComparison.Ordinal))
                && double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) > 0);
        }, TimeSpan.FromSeconds(15), $"{name} with {string.Join(", ", labels)} on /metrics");
    }
}
