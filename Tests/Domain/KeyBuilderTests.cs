using CsCheck;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Coordination;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Domain;

/// <summary>
/// Every key built from more than one caller-supplied part is unambiguous: for each builder, two different inputs
/// never give the same key. Inputs are drawn from an alphabet rich in the builders' own separators and escapes.
/// </summary>
public sealed class KeyBuilderTests
{
    private const int Cases = 20_000;

    /// <summary>Short strings over separators, escapes, control characters and a little text: where collisions hide.</summary>
    private static readonly Gen<string> Part = Gen.Char["ab/|=%#:\n\\2F7C3D_. "].Array[0, 6].Select(c => new string(c));

    private static readonly Gen<(string, string)[]> Entries = Gen.Select(Part, Part).Array[1, 3];

    [Fact]
    public void Jti_TheIssueExample_TwoDifferentTokensGetTwoKeys()
        => Assert.NotEqual(GrainKeys.Jti("a\nb", "c"), GrainKeys.Jti("a", "b\nc"));

    [Fact]
    public void Jti_IssuerWithoutLineFeed_KeepsTheKeyOfEarlierVersions()
        => Assert.Equal(
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("https://issuer.example/\njti-1"u8)),
            GrainKeys.Jti("https://issuer.example/", "jti-1"));

    [Fact]
    public void Jti_DifferentIssuerAndJti_NeverShareAKey()
        => AssertInjective(Gen.Select(Part, Part), x => GrainKeys.Jti(x.Item1, x.Item2), seed: 13);

    [Fact]
    public void RateLimitCounter_DifferentTenantPolicyKey_NeverShareAKey()
        => AssertInjective(Gen.Select(Part, Part, Part), x => GrainKeys.RateLimitCounter(x.Item1, x.Item2, x.Item3), seed: 14);

    [Fact]
    public void EnvoyCounter_DifferentDomainOrEntries_NeverShareAKey()
        => AssertInjective(Gen.Select(Part, Entries), x => GrainKeys.EnvoyCounter(x.Item1, x.Item2), seed: 15,
            equal: (a, b) => a.Item1 == b.Item1 && a.Item2.SequenceEqual(b.Item2));

    [Fact]
    public void EnvoyAndTenantCounters_NeverShareAKey()
        => SeededProperty.ForAll(Gen.Select(Part, Part, Part, Entries), x =>
        {
            var tenant = GrainKeys.RateLimitCounter(x.Item1, x.Item2, x.Item3);
            var envoy = GrainKeys.EnvoyCounter(x.Item1, x.Item4);
            Assert.NotEqual(tenant, envoy);
            Assert.False(tenant.StartsWith('#'), $"a tenant counter starts with '#': {tenant}");
        }, seed: 16, iterations: Cases);

    [Fact]
    public void RateLimitRuleTag_DifferentRules_NeverShareATag_AndHoldNoSlash()
    {
        var rules = Gen.Select(Gen.Int[0, 2], Gen.Long[1, RateLimitLimits.MaxLimit], Gen.Long[RateLimitLimits.MinWindowMs, RateLimitLimits.MaxWindowMs], Gen.Double[0.001, 1e9])
            .Select((a, limit, window, refill) => (RateLimitAlgorithm)a == RateLimitAlgorithm.TokenBucket
                ? new RateLimitPolicy(RateLimitAlgorithm.TokenBucket, limit, 0, refill, false)
                : new RateLimitPolicy((RateLimitAlgorithm)a, limit, window, 0, false));
        AssertInjective(rules, p =>
        {
            var tag = GrainKeys.RateLimitRuleTag(p);
            Assert.DoesNotContain('/', tag);
            return tag;
        }, seed: 17);
    }

    [Fact]
    public void RedisFallbackKeys_DifferentKindOrId_NeverShareAKey()
        => AssertInjective(Gen.Select(Gen.OneOf(Gen.Const("lease"), Gen.Const("bytes"), Gen.Const("rl"), Gen.Const("tokens")), Part), x => GrainKeys.RedisFallbackKey("p:", x.Item1, x.Item2), seed: 18);

    [Fact]
    public void RedisFallbackKey_KindWithColon_IsRefused()
        => Assert.Throws<ArgumentException>(() => GrainKeys.RedisFallbackKey("p:", "rl:x", "y"));

    [Fact]
    public void RedisFallbackCounterId_DifferentCounterOrRule_NeverShareAnId()
        => AssertInjective(Gen.Select(Part, Part, Gen.Long[1, 20], Gen.Long[100, 120]),
            x => GrainKeys.RedisFallbackCounterId(GrainKeys.RateLimitCounter(x.Item1, "p", x.Item2), new RateLimitPolicy(RateLimitAlgorithm.FixedWindow, x.Item3, x.Item4, 0, false)),
            seed: 19);

    [Fact]
    public void RedisFallbackCounterKey_DifferentCounterOrRule_NeverShareAKey_AndTagTheTenantOnACluster()
        => AssertInjective(Gen.Select(Part, Part, Gen.Long[1, 20], Gen.Long[100, 120]),
            x =>
            {
                var id = GrainKeys.RedisFallbackCounterId(GrainKeys.RateLimitCounter(x.Item1, "p", x.Item2), new RateLimitPolicy(RateLimitAlgorithm.FixedWindow, x.Item3, x.Item4, 0, false));
                Assert.Equal(GrainKeys.RedisFallbackKey("p:", "rl", id), GrainKeys.RedisFallbackCounterKey("p:", id, redisCluster: false)); // the standalone name is unchanged
                var key = GrainKeys.RedisFallbackCounterKey("p:", id, redisCluster: true);
                var open = key.IndexOf('{', StringComparison.Ordinal);
                Assert.Equal(GrainKeys.EscapeKeyPart(x.Item1), key[(open + 1)..key.IndexOf('}', open)]); // the hash tag is the escaped tenant
                return key;
            },
            seed: 21);

    [Fact]
    public void RedisFallbackCounterKey_OfAnEnvoyCounter_TagsItsDomain()
    {
        var rule = new RateLimitPolicy(RateLimitAlgorithm.FixedWindow, 5, 1000, 0, false);
        string Key(string domain) => GrainKeys.RedisFallbackCounterKey("p:", GrainKeys.RedisFallbackCounterId(GrainKeys.EnvoyCounter(domain, [("k", "v")]), rule), redisCluster: true);

        Assert.Contains("{#rls/edge}", Key("edge"), StringComparison.Ordinal);
        Assert.Contains("{#rls/api}", Key("api"), StringComparison.Ordinal);
    }

    [Fact]
    public void RedisFallbackLeaseAndBytesKeys_OnACluster_TagThemselvesWithTheGrainStateKey_ElseKeepTheirNames()
    {
        Assert.Equal("p:fb:lease:{" + GrainKeys.RedisUserLeaseStateKey("p:", "svc", "alice") + "}", GrainKeys.RedisFallbackLeaseKey("p:", "svc", "alice", redisCluster: true));
        Assert.Equal("p:fb:bytes:{" + GrainKeys.RedisUserByteBudgetStateKey("p:", "svc", "alice") + "}", GrainKeys.RedisFallbackBytesKey("p:", "svc", "alice", redisCluster: true));
        Assert.NotEqual(GrainKeys.RedisFallbackLeaseKey("p:", "svc", "alice", redisCluster: true), GrainKeys.RedisFallbackLeaseKey("p:", "svc", "bob", redisCluster: true));

        // Standalone Redis, or a prefix that already puts every key in one slot: the names they always had (nothing to migrate).
        Assert.Equal("p:fb:lease:alice", GrainKeys.RedisFallbackLeaseKey("p:", "svc", "alice", redisCluster: false));
        Assert.Equal("p:fb:bytes:alice", GrainKeys.RedisFallbackBytesKey("p:", "svc", "alice", redisCluster: false));
        Assert.Equal("{p}:fb:lease:alice", GrainKeys.RedisFallbackLeaseKey("{p}:", "svc", "alice", redisCluster: true));
    }

    [Theory]
    [InlineData("coord{:", false)]
    [InlineData("coord{}:", false)]
    [InlineData("{coord}:", true)]
    [InlineData("coord}:", false)]
    [InlineData("{coord}x}:", true)]
    public void KeyPrefix_BraceMustOpenAHashTag(string prefix, bool valid)
        => Assert.Equal(valid, !new Orleans.Coordinator.Grains.Interfaces.Configuration.CoordinatorRedisOptions { KeyPrefix = prefix }.Validate().Any());

    [Theory]
    [InlineData("svc{x}")]
    [InlineData("svc}")]
    public void ServiceIdWithHashTagBraces_IsRefused(string serviceId)
        => Assert.Contains(new Orleans.Coordinator.Grains.Interfaces.Configuration.CoordinatorClusterOptions { ServiceId = serviceId }.Validate(), e => e.StartsWith("Orleans:ServiceId", StringComparison.Ordinal));

    [Fact]
    public void InstanceLeaseIndex_DifferentInstanceOrBucket_NeverShareAKey()
    {
        // Instance ids are validated keys (no '/'); the bucket is the user's hash: the key names (instance, bucket).
        var instances = Gen.Char["ab.-_:@"].Array[1, 5].Select(c => new string(c));
        AssertInjective(Gen.Select(instances, Gen.Int[0, InstanceKeys.LeaseIndexBuckets - 1]),
            x => InstanceKeys.LeaseIndexes(x.Item1).ElementAt(x.Item2), seed: 20);
    }

    [Theory]
    [InlineData("a%b", "a%25b")]
    [InlineData("x/y|z=w#", "x%2Fy%7Cz%3Dw%23")]
    [InlineData("plain-key.1", "plain-key.1")]
    public void EscapeKeyPart_EscapesOnlyTheSeparators(string part, string escaped)
        => Assert.Equal(escaped, GrainKeys.EscapeKeyPart(part));

    /// <summary>Draws inputs; any two that differ must build different keys.</summary>
    private static void AssertInjective<T>(Gen<T> inputs, Func<T, string> build, ulong seed, Func<T, T, bool>? equal = null)
    {
        equal ??= (a, b) => EqualityComparer<T>.Default.Equals(a, b);
        var seen = new Dictionary<string, T>(StringComparer.Ordinal);
        SeededProperty.ForAll(inputs, input =>
        {
            var key = build(input);
            if (seen.TryGetValue(key, out var earlier))
            {
                Assert.True(equal(earlier, input), $"two inputs share the key '{key}': {Check.Print(earlier)} and {Check.Print(input)}");
            }
            else
            {
                seen[key] = input;
            }
        }, seed, Cases);
    }
}
