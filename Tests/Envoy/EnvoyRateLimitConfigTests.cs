using Orleans.Coordinator.Envoy;

namespace Orleans.Coordinator.Tests.Envoy;

public sealed class EnvoyRateLimitConfigTests
{
    private const string Sample = """
        domain: edge
        descriptors:
          - key: remote_address
            rate_limit:
              unit: minute
              requests_per_unit: 10
          - key: database
            value: users
            rate_limit:
              name: users-db
              unit: second
              requests_per_unit: 500
          - key: database
            rate_limit:
              unit: second
              requests_per_unit: 50
          - key: authenticated
            value: "true"
            descriptors:
              - key: client_id
                rate_limit:
                  unit: hour
                  requests_per_unit: 1000
                descriptors:
                  - key: path
                    value: /health
                    rate_limit:
                      unlimited: true
          - key: experiment
            shadow_mode: true
            rate_limit:
              unit: day
              requests_per_unit: 1
        """;

    private static readonly EnvoyRateLimitConfig Config = EnvoyRateLimitConfig.Parse(Sample);

    [Theory]
    [InlineData("remote_address=10.0.0.1", 10L, "minute", false)]
    [InlineData("database=users", 500L, "second", false)]
    [InlineData("database=orders", 50L, "second", false)]
    [InlineData("authenticated=true|client_id=foo", 1000L, "hour", false)]
    [InlineData("experiment=a", 1L, "day", true)]
    public void Match_FindsTheRuleTheWayEnvoyRateLimitDoes(string descriptor, long requests, string unit, bool shadow)
    {
        var match = Config.Match("edge", Entries(descriptor));

        Assert.NotNull(match.Limit);
        Assert.Equal((requests, unit, shadow), (match.Limit.RequestsPerUnit, match.Limit.Unit.Name, match.ShadowMode));
    }

    [Theory]
    [InlineData("edge", "authenticated=true")]
    [InlineData("edge", "authenticated=false|client_id=foo")]
    [InlineData("edge", "unknown=1")]
    [InlineData("edge", "remote_address=10.0.0.1|path=/x")]
    [InlineData("other-domain", "remote_address=10.0.0.1")]
    public void Match_NoRuleForTheWholeDescriptor_HasNoLimit(string domain, string descriptor)
        => Assert.Null(Config.Match(domain, Entries(descriptor)).Limit);

    [Fact]
    public void Match_UnlimitedRule_IsUnlimited()
        => Assert.True(Config.Match("edge", Entries("authenticated=true|client_id=foo|path=/health")).Limit!.Unlimited);

    [Fact]
    public void Parse_SeveralDocuments_GiveSeveralDomains()
    {
        var config = EnvoyRateLimitConfig.Parse("domain: a\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1}\n---\ndomain: b\n");

        Assert.Equal(["a", "b"], config.Domains.Order());
        Assert.NotNull(config.Match("a", [("k", "v")]).Limit);
        Assert.Throws<EnvoyConfigException>(() => EnvoyRateLimitConfig.Parse("domain: a\n---\ndomain: a\n"));
    }

    [Theory]
    [InlineData("domain: edge\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: fortnight\n      requests_per_unit: 5\n", 5, "unknown unit 'fortnight'")]
    [InlineData("domain: edge\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: second\n      requests_per_unit: many\n", 6, "requests_per_unit")]
    [InlineData("domain: edge\ndescriptors:\n  - value: x\n", 3, "'key' is required")]
    [InlineData("descriptors: []\n", 1, "'domain' is required")]
    [InlineData("domain: edge\ndescriptors:\n  - key: a\n  - key: a\n", 4, "duplicate descriptor 'a'")]
    [InlineData("domain: edge\ndescriptors:\n  - key: a\n    ratelimit: {}\n", 4, "unknown descriptor field 'ratelimit'")]
    [InlineData("domain: edge\ndescriptors:\n  - key: a\n    shadow_mode: maybe\n", 4, "true or false")]
    [InlineData("domain: edge\ndescriptors: [\n", 3, "")]
    public void Parse_Malformed_NamesLineAndReason(string yaml, int line, string reason)
    {
        var ex = Assert.Throws<EnvoyConfigException>(() => EnvoyRateLimitConfig.Parse(yaml, "limits.yaml"));

        Assert.Contains($"limits.yaml line {line}", ex.Message, StringComparison.Ordinal);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }

    private static List<(string Key, string Value)> Entries(string descriptor)
        => [.. descriptor.Split('|').Select(e => e.Split('=', 2)).Select(p => (p[0], p[1]))];
}
