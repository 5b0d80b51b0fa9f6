using Grpc.Core;
using Orleans.Coordinator.Envoy.RateLimit;
using Orleans.Coordinator.Envoy.RateLimit.Common;
using Orleans.Coordinator.Tests.Infrastructure;
using static Orleans.Coordinator.Envoy.RateLimit.RateLimitResponse.Types;
using Unit = Orleans.Coordinator.Envoy.RateLimit.RateLimitResponse.Types.RateLimit.Types.Unit;

namespace Orleans.Coordinator.Tests.Envoy;

/// <summary>
/// The RLS answers for inputs from issue 13: a huge <c>hits_addend</c> is a defined OVER_LIMIT, not UNKNOWN; an
/// override beside the configured rule cannot restart it; no mix of duplicates, overrides and units admits more
/// than each limit. Domain <c>hardening</c>: <c>remote_address</c> and <c>user</c> 10 per minute.
/// </summary>
[Collection(EnvoyRlsCollection.Name)]
public sealed class RlsHardeningTests(EnvoyRlsFixture fixture)
{
    private static readonly Grpc.Core.Metadata ClientToken = new() { { "authorization", $"Bearer {GatewayHost.ClientToken}" } };

    private static RateLimitDescriptor Descriptor(string key, string value, uint? perUnit = null, Unit unit = Unit.Unknown)
    {
        var descriptor = new RateLimitDescriptor { Entries = { new RateLimitDescriptor.Types.Entry { Key = key, Value = value } } };
        if (perUnit is { } n)
        {
            descriptor.Limit = new RateLimitDescriptor.Types.RateLimitOverride { RequestsPerUnit = n, Unit = (int)unit };
        }

        return descriptor;
    }

    private async Task<RateLimitResponse> CallAsync(uint hits, params RateLimitDescriptor[] descriptors)
    {
        var request = new RateLimitRequest { Domain = "hardening", HitsAddend = hits };
        request.Descriptors.AddRange(descriptors);
        return await fixture.Client.ShouldRateLimitAsync(request, ClientToken, cancellationToken: TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task ShouldRateLimit_HitsAddendMaxUint32_IsOverLimit_AndTheServiceKeepsServing()
    {
        var ip = $"ip-{Guid.NewGuid():N}";

        var huge = await CallAsync(uint.MaxValue, Descriptor("remote_address", ip));
        var normal = await CallAsync(0, Descriptor("remote_address", ip));

        Assert.Equal(Code.OverLimit, huge.OverallCode);
        Assert.Equal(Code.OverLimit, huge.Statuses[0].Code);
        Assert.Equal(10u, huge.Statuses[0].LimitRemaining); // refused, so nothing was counted
        Assert.Equal(Code.Ok, normal.OverallCode);
        Assert.Equal(9u, normal.Statuses[0].LimitRemaining);
    }

    [Fact]
    public async Task ShouldRateLimit_SameEntriesWithAnOverride_CannotRestartTheConfiguredRule()
    {
        // The example: [(user,bob)] and [(user,bob), limit 1000 per HOUR], sent 11 times against user 10/minute.
        await WithinOneMinuteAsync(async user =>
        {
            var answers = new List<RateLimitResponse>();
            for (var i = 0; i < 11; i++)
            {
                answers.Add(await CallAsync(0, Descriptor("user", user), Descriptor("user", user, 1000, Unit.Hour)));
            }

            for (var i = 0; i < 10; i++)
            {
                Assert.Equal(Code.Ok, answers[i].OverallCode);
                Assert.Equal((uint)(9 - i), answers[i].Statuses[0].LimitRemaining);
                Assert.Equal((uint)(999 - i), answers[i].Statuses[1].LimitRemaining);
            }

            Assert.Equal(Code.OverLimit, answers[10].OverallCode);
            Assert.Equal(Code.OverLimit, answers[10].Statuses[0].Code);
            Assert.Equal(0u, answers[10].Statuses[0].LimitRemaining);
            Assert.Equal(990u, answers[10].Statuses[1].LimitRemaining); // all or nothing: the refused request cost the override nothing
        });
    }

    [Fact]
    public async Task ShouldRateLimit_AnyMixOfDuplicatesOverridesAndUnits_AdmitsNoMoreThanEachLimit()
    {
        // Rules over one key: the configured 10/minute, and overrides 4/hour, 6/day, 3/minute and 10/minute (identical
        // to the configured rule, so the same counter). Each request carries a random mix, duplicates included.
        (uint? PerUnit, Unit Unit, uint Limit)[] rules = [(null, Unit.Minute, 10), (4, Unit.Hour, 4), (6, Unit.Day, 6), (3, Unit.Minute, 3), (10, Unit.Minute, 10)];
        var random = new Random(1313);
        for (var round = 0; round < 4; round++)
        {
            await WithinOneMinuteAsync(async user =>
            {
                var admitted = new int[rules.Length];
                for (var i = 0; i < 40; i++)
                {
                    var picked = Enumerable.Range(0, random.Next(1, 5)).Select(_ => random.Next(rules.Length)).ToList();
                    var response = await CallAsync(0, [.. picked.Select(r => Descriptor("user", user, rules[r].PerUnit, rules[r].Unit))]);
                    if (response.OverallCode == Code.Ok)
                    {
                        foreach (var r in picked.Distinct())
                        {
                            admitted[r]++;
                        }
                    }
                }

                for (var r = 0; r < rules.Length; r++)
                {
                    Assert.True(admitted[r] <= rules[r].Limit, $"rule {r} ({rules[r].Limit} per {rules[r].Unit}) admitted {admitted[r]} requests");
                }
            });
        }
    }

    [Fact]
    public async Task ShouldRateLimit_LimitOfZero_IsOverLimit_AndChargesNothingElse()
    {
        var user = $"u-{Guid.NewGuid():N}";

        var refused = await CallAsync(0, Descriptor("user", user), Descriptor("blocked", "x"));
        var overridden = await CallAsync(0, Descriptor("user", user, 0, Unit.Second));
        var after = await CallAsync(0, Descriptor("user", user));

        Assert.Equal(Code.OverLimit, refused.OverallCode);
        Assert.Equal(Code.OverLimit, refused.Statuses[1].Code);
        Assert.Equal(0u, refused.Statuses[1].LimitRemaining);
        Assert.Equal(Code.OverLimit, overridden.OverallCode);
        Assert.Equal(9u, after.Statuses[0].LimitRemaining); // neither refusal counted against the user's rule
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public async Task ShouldRateLimit_OverrideWithAnUnknownUnit_IsInvalidArgumentNamingTheField(int unit)
    {
        var descriptor = Descriptor("user", "bob");
        descriptor.Limit = new RateLimitDescriptor.Types.RateLimitOverride { RequestsPerUnit = 5, Unit = unit };

        var ex = await Assert.ThrowsAsync<RpcException>(() => CallAsync(0, descriptor));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("descriptors[0].limit.unit", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ShouldRateLimit_OverrideInWeeks_IsCountedPerWeek()
    {
        var response = await CallAsync(0, Descriptor("user", $"w-{Guid.NewGuid():N}", 2, Unit.Week));

        Assert.Equal(Code.Ok, response.OverallCode);
        Assert.Equal(Unit.Week, response.Statuses[0].CurrentLimit.Unit);
        Assert.Equal(1u, response.Statuses[0].LimitRemaining);
        Assert.InRange(response.Statuses[0].DurationUntilReset.ToTimeSpan(), TimeSpan.FromMilliseconds(1), TimeSpan.FromDays(7));
    }

    /// <summary>Runs <paramref name="act"/> on a fresh key, again (at most 3 times) if a minute boundary passed meanwhile.</summary>
    private static async Task WithinOneMinuteAsync(Func<string, Task> act)
    {
        for (var attempt = 1; ; attempt++)
        {
            var minute = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 60_000;
            try
            {
                await act($"u-{Guid.NewGuid():N}");
                return;
            }
            catch (Exception) when (attempt < 3 && DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 60_000 != minute)
            {
                // The minute window rolled over during the run: the counts legitimately started again.
            }
        }
    }
}
