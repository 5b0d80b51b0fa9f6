using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Net.Client;
using Orleans.Coordinator.Envoy.RateLimit;
using Orleans.Coordinator.Envoy.RateLimit.Common;
using Orleans.Coordinator.Tests.Infrastructure;
using static Orleans.Coordinator.Envoy.RateLimit.RateLimitResponse.Types;

namespace Orleans.Coordinator.Tests.Envoy;

/// <summary>
/// Rules from a directory, reloaded live (file writes and a Kubernetes ConfigMap's symlink swap), a broken file keeping
/// the last good rules, and the rest of envoyproxy/ratelimit's format: wildcards, replaces, a global shadow mode.
/// </summary>
public sealed class LiveRulesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static RateLimitDescriptor Descriptor(params (string Key, string Value)[] entries)
    {
        var descriptor = new RateLimitDescriptor();
        descriptor.Entries.AddRange(entries.Select(e => new RateLimitDescriptor.Types.Entry { Key = e.Key, Value = e.Value }));
        return descriptor;
    }

    private static async Task<(GatewayHost Gateway, RateLimitService.RateLimitServiceClient Client, GrpcChannel Channel)> StartAsync(string path, bool shadow = false)
    {
        var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:GrpcPort"] = RedisServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RateLimit:ConfigPath"] = path,
            ["RateLimit:ShadowMode"] = shadow ? "true" : "false",
        });
        var channel = GrpcChannel.ForAddress(gateway.GrpcAddress!);
        return (gateway, new RateLimitService.RateLimitServiceClient(channel), channel);
    }

    private static Task<RateLimitResponse> CallAsync(RateLimitService.RateLimitServiceClient client, string domain, params RateLimitDescriptor[] descriptors)
    {
        var request = new RateLimitRequest { Domain = domain };
        request.Descriptors.AddRange(descriptors);
        return client.ShouldRateLimitAsync(request, cancellationToken: Ct).ResponseAsync;
    }

    private static string TempDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"rls-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string Rule(string domain, string key, int perMinute) => $$"""
        domain: {{domain}}
        descriptors:
          - key: {{key}}
            rate_limit: {unit: minute, requests_per_unit: {{perMinute}}}
        """;

    [Fact(Timeout = 60_000)]
    public async Task Directory_FileWrites_AreInForceWithin2s_AndABrokenFileKeepsTheLastGoodRules()
    {
        var dir = TempDirectory();
        await File.WriteAllTextAsync(Path.Combine(dir, "a.yaml"), Rule("alpha", "user", 2), Ct);
        await File.WriteAllTextAsync(Path.Combine(dir, "b.yml"), Rule("beta", "user", 5), Ct);
        var (gateway, client, channel) = await StartAsync(dir);
        try
        {
            var before = await CallAsync(client, "alpha", Descriptor(("user", "u1")));

            // Raise alpha's limit: in force within 2 s, and the counter of the unchanged beta rule keeps its count.
            await CallAsync(client, "beta", Descriptor(("user", "b1")));
            var written = DateTimeOffset.UtcNow;
            await File.WriteAllTextAsync(Path.Combine(dir, "a.yaml"), Rule("alpha", "user", 50), Ct);
            await Wait.UntilAsync(async () => (await CallAsync(client, "alpha", Descriptor(("user", "u1")))).Statuses[0].CurrentLimit?.RequestsPerUnit == 50,
                TimeSpan.FromSeconds(10), "alpha's new limit (50 per minute) to be in force");

            var (reloadMs, rulesStatus) = await LoadedAfterAsync(gateway, written);
            var beta = await CallAsync(client, "beta", Descriptor(("user", "b1")));

            // A third file adds a domain; then a broken edit: the last good rules keep serving and /readyz says why.
            await File.WriteAllTextAsync(Path.Combine(dir, "c.yaml"), Rule("gamma", "ip", 1), Ct);
            await Wait.UntilAsync(async () => (await CallAsync(client, "gamma", Descriptor(("ip", "1.2.3.4")))).Statuses[0].CurrentLimit is not null,
                TimeSpan.FromSeconds(10), "the added file's domain to be in force");
            await File.WriteAllTextAsync(Path.Combine(dir, "a.yaml"), "domain: alpha\ndescriptors:\n  - key: user\n    rate_limit: {unit: weekly, requests_per_unit: 1}\n", Ct);
            JsonElement readyz = default;
            await Wait.UntilAsync(async () =>
            {
                readyz = await gateway.CreateClient(null).GetFromJsonAsync<JsonElement>("/readyz", Ct);
                return readyz.GetProperty("rateLimitRules").GetString()!.Contains("line 4", StringComparison.Ordinal);
            }, TimeSpan.FromSeconds(10), "/readyz to report the broken file with its line");
            var stillServing = await CallAsync(client, "alpha", Descriptor(("user", "u1")));

            Assert.Equal(2u, before.Statuses[0].CurrentLimit.RequestsPerUnit);
            Assert.True(reloadMs < 2_000, $"the new rules were loaded {reloadMs:0} ms after the write ({rulesStatus})");
            Assert.Equal(3u, beta.Statuses[0].LimitRemaining); // 5 - 2: the reload left beta's counter as it was
            Assert.Equal(50u, stillServing.Statuses[0].CurrentLimit.RequestsPerUnit);
            Assert.Contains("unknown unit 'weekly'", readyz.GetProperty("rateLimitRules").GetString(), StringComparison.Ordinal);
            Assert.Contains("a.yaml", readyz.GetProperty("rateLimitRules").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            channel.Dispose();
            await gateway.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task ConfigMapSymlinkSwap_IsInForceWithin2s()
    {
        // The layout Kubernetes mounts: limits.yaml -> ..data/limits.yaml, ..data -> ..v1; an update writes ..v2 and
        // swaps ..data atomically (rename over the old link).
        var dir = TempDirectory();
        Directory.CreateDirectory(Path.Combine(dir, "..v1"));
        await File.WriteAllTextAsync(Path.Combine(dir, "..v1", "limits.yaml"), Rule("edge", "user", 3), Ct);
        Directory.CreateSymbolicLink(Path.Combine(dir, "..data"), "..v1");
        File.CreateSymbolicLink(Path.Combine(dir, "limits.yaml"), Path.Combine("..data", "limits.yaml"));
        var (gateway, client, channel) = await StartAsync(dir);
        try
        {
            var before = await CallAsync(client, "edge", Descriptor(("user", "u1")));
            Directory.CreateDirectory(Path.Combine(dir, "..v2"));
            await File.WriteAllTextAsync(Path.Combine(dir, "..v2", "limits.yaml"), Rule("edge", "user", 30), Ct);
            Directory.CreateSymbolicLink(Path.Combine(dir, "..data_tmp"), "..v2");
            // rename(2) of the new link over the old, as the kubelet does (mv -T renames the link itself, atomically).
            var written = DateTimeOffset.UtcNow;
            using (var mv = System.Diagnostics.Process.Start("mv", ["-T", Path.Combine(dir, "..data_tmp"), Path.Combine(dir, "..data")])!)
            {
                await mv.WaitForExitAsync(Ct);
                Assert.Equal(0, mv.ExitCode);
            }

            await Wait.UntilAsync(async () => (await CallAsync(client, "edge", Descriptor(("user", "u1")))).Statuses[0].CurrentLimit?.RequestsPerUnit == 30,
                TimeSpan.FromSeconds(10), "the swapped ConfigMap's limit (30) to be in force");

            Assert.Equal(3u, before.Statuses[0].CurrentLimit.RequestsPerUnit);
            var (swapMs, rulesStatus) = await LoadedAfterAsync(gateway, written);
            Assert.True(swapMs < 2_000, $"the swap was loaded {swapMs:0} ms after the rename ({rulesStatus})");
        }
        finally
        {
            channel.Dispose();
            await gateway.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Wildcards_Replaces_AndGlobalShadowMode()
    {
        var dir = TempDirectory();
        await File.WriteAllTextAsync(Path.Combine(dir, "rules.yaml"), """
            domain: api
            descriptors:
              - key: path
                value: "/v1/admin*"
                rate_limit: {unit: minute, requests_per_unit: 1}
              - key: path
                value: "/v1/*"
                rate_limit: {unit: minute, requests_per_unit: 2}
              - key: user
                rate_limit: {name: per-user, unit: minute, requests_per_unit: 1}
              - key: vip
                rate_limit:
                  name: vip
                  unit: minute
                  requests_per_unit: 100
                  replaces: [{name: per-user}]
            """, Ct);
        var (gateway, client, channel) = await StartAsync(dir);
        try
        {
            // Wildcards: each matched value has its own counter; the first declared pattern that matches wins.
            var a1 = await CallAsync(client, "api", Descriptor(("path", "/v1/orders")));
            var a2 = await CallAsync(client, "api", Descriptor(("path", "/v1/orders")));
            var a3 = await CallAsync(client, "api", Descriptor(("path", "/v1/orders")));
            var other = await CallAsync(client, "api", Descriptor(("path", "/v1/items")));
            var admin = await CallAsync(client, "api", Descriptor(("path", "/v1/admin/users")));
            var none = await CallAsync(client, "api", Descriptor(("path", "/v2/orders")));

            // replaces: with the vip rule matched, per-user is not evaluated and its counter is left untouched.
            var vip1 = await CallAsync(client, "api", Descriptor(("user", "bob")), Descriptor(("vip", "gold")));
            var vip2 = await CallAsync(client, "api", Descriptor(("user", "bob")), Descriptor(("vip", "gold")));
            var plain1 = await CallAsync(client, "api", Descriptor(("user", "bob")));
            var plain2 = await CallAsync(client, "api", Descriptor(("user", "bob")));

            Assert.Equal([Code.Ok, Code.Ok, Code.OverLimit], new[] { a1, a2, a3 }.Select(r => r.OverallCode));
            Assert.Equal(1u, other.Statuses[0].LimitRemaining);
            Assert.Equal(1u, admin.Statuses[0].CurrentLimit.RequestsPerUnit);
            Assert.Null(none.Statuses[0].CurrentLimit);
            Assert.Equal(Code.Ok, vip1.OverallCode);
            Assert.Equal(Code.Ok, vip2.OverallCode);
            Assert.Null(vip2.Statuses[0].CurrentLimit); // replaced: no limit reported
            Assert.Equal(98u, vip2.Statuses[1].LimitRemaining);
            Assert.Equal(Code.Ok, plain1.OverallCode); // per-user's counter was untouched by the vip requests
            Assert.Equal(Code.OverLimit, plain2.OverallCode);
        }
        finally
        {
            channel.Dispose();
            await gateway.DisposeAsync();
        }

        var (shadowGateway, shadowClient, shadowChannel) = await StartAsync(dir, shadow: true);
        try
        {
            var answers = new List<RateLimitResponse>();
            for (var i = 0; i < 3; i++)
            {
                answers.Add(await CallAsync(shadowClient, "api", Descriptor(("user", "carol"))));
            }

            Assert.All(answers, r => Assert.Equal(Code.Ok, r.OverallCode)); // counted, reported, never OVER_LIMIT
        }
        finally
        {
            shadowChannel.Dispose();
            await shadowGateway.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task UnlimitedRule_StillReplacesAnotherByName()
    {
        var dir = TempDirectory();
        await File.WriteAllTextAsync(Path.Combine(dir, "rules.yaml"), """
            domain: api
            descriptors:
              - key: user
                rate_limit: {name: per-user, unit: minute, requests_per_unit: 1}
              - key: internal
                rate_limit:
                  unlimited: true
                  replaces: [{name: per-user}]
            """, Ct);
        var (gateway, client, channel) = await StartAsync(dir);
        try
        {
            var both1 = await CallAsync(client, "api", Descriptor(("user", "dan")), Descriptor(("internal", "batch")));
            var both2 = await CallAsync(client, "api", Descriptor(("user", "dan")), Descriptor(("internal", "batch")));
            var alone1 = await CallAsync(client, "api", Descriptor(("user", "dan")));
            var alone2 = await CallAsync(client, "api", Descriptor(("user", "dan")));

            Assert.Equal(Code.Ok, both1.OverallCode);
            Assert.Equal(Code.Ok, both2.OverallCode); // per-user replaced: not evaluated, not charged
            Assert.Equal(uint.MaxValue, both2.Statuses[1].LimitRemaining);
            Assert.Equal(Code.Ok, alone1.OverallCode); // its counter was untouched
            Assert.Equal(Code.OverLimit, alone2.OverallCode);
        }
        finally
        {
            channel.Dispose();
            await gateway.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Format_RefusesWhatItDoesNotKnow_WithTheLine()
    {
        var sharedWithoutWildcard = Assert.Throws<Orleans.Coordinator.Envoy.EnvoyConfigException>(() => Orleans.Coordinator.Envoy.EnvoyRateLimitConfig.Parse(
            "domain: d\ndescriptors:\n  - key: k\n    value: ab\n    share_threshold: true\n    rate_limit: {unit: second, requests_per_unit: 1}\n", "f.yaml"));
        var unknownLimitField = Assert.Throws<Orleans.Coordinator.Envoy.EnvoyConfigException>(() => Orleans.Coordinator.Envoy.EnvoyRateLimitConfig.Parse(
            "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1, burst: 3}\n", "f.yaml"));
        var badReplaces = Assert.Throws<Orleans.Coordinator.Envoy.EnvoyConfigException>(() => Orleans.Coordinator.Envoy.EnvoyRateLimitConfig.Parse(
            "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1, replaces: other}\n", "f.yaml"));
        var twice = Assert.Throws<Orleans.Coordinator.Envoy.EnvoyConfigException>(() => Orleans.Coordinator.Envoy.EnvoyRateLimitConfig.Merge([
            Orleans.Coordinator.Envoy.EnvoyRateLimitConfig.Parse(Rule("d", "k", 1), "a.yaml"),
            Orleans.Coordinator.Envoy.EnvoyRateLimitConfig.Parse(Rule("d", "k", 2), "b.yaml")]));

        Assert.Contains("f.yaml line 3: share_threshold is only for a value with a wildcard", sharedWithoutWildcard.Message, StringComparison.Ordinal);
        Assert.Contains("unknown rate_limit field 'burst'", unknownLimitField.Message, StringComparison.Ordinal);
        Assert.Contains("replaces", badReplaces.Message, StringComparison.Ordinal);
        Assert.Contains("b.yaml: domain 'd' is also defined in a.yaml", twice.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// How long after <paramref name="written"/> the gateway loaded its rules, from its own "loaded" time in /readyz: the
    /// reload's latency, without the wait of the polling calls behind whatever else the machine runs.
    /// </summary>
    private static async Task<(double Ms, string Status)> LoadedAfterAsync(GatewayHost gateway, DateTimeOffset written)
    {
        var status = (await gateway.CreateClient(null).GetFromJsonAsync<JsonElement>("/readyz", Ct)).GetProperty("rateLimitRules").GetString()!;
        var loaded = status[(status.IndexOf("loaded ", StringComparison.Ordinal) + "loaded ".Length)..].Split(' ', ';', ',')[0];
        return ((DateTimeOffset.Parse(loaded, System.Globalization.CultureInfo.InvariantCulture) - written).TotalMilliseconds, status);
    }
}
