using System.Net;
using Orleans.Coordinator.Grains.Domain;

namespace Orleans.Coordinator.Tests.Webhooks;

/// <summary>The pure rules of webhook delivery: backoff with jitter, public addresses, allowed hosts.</summary>
public sealed class WebhookRulesTests
{
    [Theory]
    [InlineData(1, 0.0, 500)]    // half of 1,000 fixed, no jitter drawn
    [InlineData(1, 0.999, 999)]
    [InlineData(2, 0.0, 1_000)]  // 2,000 after the second failure
    [InlineData(3, 0.5, 3_000)]  // 4,000: 2,000 + half of 2,000
    [InlineData(10, 0.0, 30_000)] // capped at 60,000
    [InlineData(70, 1.0, 60_000)] // no overflow past 62 doublings
    public void NextDelay_DoublesWithEqualJitter_UpToTheMaximum(int failures, double random, long expected)
        => Assert.Equal(expected, WebhookRules.NextDelayMs(failures, random, 1_000, 60_000));

    [Fact]
    public void NextDelay_StaysWithinHalfAndAllOfTheBackoff_ForAnyDraw()
    {
        // Seeded and bounded: every draw lands in [backoff / 2, backoff], and the backoff never shrinks with failures.
        var random = new Random(5);
        for (var i = 0; i < 10_000; i++)
        {
            var initial = random.NextInt64(1, 100_000);
            var max = initial + random.NextInt64(0, 10_000_000);
            var failures = random.Next(1, 80);
            var full = Math.Min(max, failures - 1 >= 62 ? max : (long)Math.Min(max, initial * Math.Pow(2, failures - 1)));
            var delay = WebhookRules.NextDelayMs(failures, random.NextDouble(), initial, max);
            Assert.InRange(delay, Math.Max(1, full / 2), full);
        }
    }

    [Theory]
    [InlineData("127.0.0.1", false)]
    [InlineData("10.1.2.3", false)]
    [InlineData("172.16.0.1", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("172.32.0.1", true)]
    [InlineData("192.168.1.1", false)]
    [InlineData("169.254.169.254", false)] // cloud metadata
    [InlineData("100.64.0.1", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("224.0.0.1", false)]
    [InlineData("255.255.255.255", false)]
    [InlineData("8.8.8.8", true)]
    [InlineData("::1", false)]
    [InlineData("fe80::1", false)]
    [InlineData("fd00::1", false)]
    [InlineData("::ffff:127.0.0.1", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    [InlineData("2001:4860:4860::8888", true)]
    [InlineData("64:ff9b::a9fe:a9fe", false)] // NAT64 of 169.254.169.254
    [InlineData("64:ff9b::a00:5", false)]     // NAT64 of 10.0.0.5
    [InlineData("64:ff9b::808:808", true)]    // NAT64 of 8.8.8.8
    [InlineData("64:ff9b:1::1", false)]
    public void IsPublic_RefusesSpecialPurposeAddresses(string address, bool expected)
        => Assert.Equal(expected, WebhookRules.IsPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("hooks.example.com", new[] { "*" }, HostPermission.PublicOnly)]
    [InlineData("hooks.example.com", new[] { "*.example.com" }, HostPermission.Listed)]
    [InlineData("example.com", new[] { "*.example.com" }, HostPermission.Refused)]
    [InlineData("evil-example.com", new[] { "*.example.com" }, HostPermission.Refused)]
    [InlineData("HOOKS.Example.com.", new[] { "hooks.example.com" }, HostPermission.Listed)]
    [InlineData("127.0.0.1", new[] { "*", "127.0.0.1" }, HostPermission.Listed)]
    [InlineData("other.org", new[] { "hooks.example.com" }, HostPermission.Refused)]
    public void Permission_MatchesNamesSuffixesAndTheWildcard(string host, string[] allowed, HostPermission expected)
        => Assert.Equal(expected, WebhookRules.Permission(host, allowed));
}
