using System.Diagnostics;
using Grpc.Core;
using Orleans.Coordinator.Envoy.Auth;
using Orleans.Coordinator.Envoy.RateLimit;
using Orleans.Coordinator.Envoy.RateLimit.Common;
using Orleans.Coordinator.Tests.Infrastructure;
using static Orleans.Coordinator.Envoy.RateLimit.RateLimitResponse.Types;

namespace Orleans.Coordinator.Tests.Envoy;

/// <summary>
/// Bounded, seeded fuzzing of both gRPC services (Envoy RLS <c>ShouldRateLimit</c> and ext_authz <c>Check</c>):
/// boundary and random values in every numeric, string, repeated and enum field. Only documented answers may come
/// back: a response (RLS: OK or OVER_LIMIT, one status per descriptor; ext_authz: OK, UNAUTHENTICATED or
/// PERMISSION_DENIED) or INVALID_ARGUMENT naming the field; never UNKNOWN or INTERNAL. A normal request still works
/// afterwards.
/// </summary>
[Collection(FuzzGatewayCollection.Name)]
public sealed class GrpcFuzzTests(FuzzGatewayFixture fixture, ITestOutputHelper output)
{
    private const int Cases = 1500;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(10);
    private static readonly Grpc.Core.Metadata ClientToken = new() { { "authorization", $"Bearer {GatewayHost.ClientToken}" } };
    private static readonly uint[] Uints = [0, 1, 2, 9, 10, 11, 1000, int.MaxValue, uint.MaxValue - 1, uint.MaxValue];
    private static readonly ulong[] Ulongs = [0, 1, 10, uint.MaxValue, (ulong)uint.MaxValue + 1, long.MaxValue, ulong.MaxValue - 1, ulong.MaxValue];
    private static readonly int[] Units = [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 99, int.MaxValue, int.MinValue];

    [Fact(Timeout = 90_000)]
    public async Task ShouldRateLimit_BoundaryAndRandomFields_GetOnlyDocumentedAnswers()
    {
        var client = new RateLimitService.RateLimitServiceClient(fixture.Channel);
        var random = new Random(1314);
        var (answered, invalid, faults) = (0, 0, new List<string>());
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Cases && clock.Elapsed < Budget; i++)
        {
            var request = new RateLimitRequest
            {
                Domain = random.Next(12) switch { 0 => "", 1 => Text(random, 257), 2 => "nope", 3 => Text(random, 256), _ => "fuzz" },
                HitsAddend = Pick(random, Uints),
            };
            var descriptors = random.Next(10) == 0 ? Pick(random, [0, 16, 64, 65]) : Pick(random, [1, 1, 2, 3]);
            for (var d = 0; d < descriptors; d++)
            {
                var descriptor = new RateLimitDescriptor();
                var entries = random.Next(12) == 0 ? Pick(random, [0, 16, 17]) : Pick(random, [1, 1, 2, 2, 3]);
                for (var e = 0; e < entries; e++)
                {
                    descriptor.Entries.Add(new RateLimitDescriptor.Types.Entry
                    {
                        Key = random.Next(10) == 0 ? Text(random, Pick(random, [0, 1, 256, 257])) : Pick(random, ["remote_address", "user", "path", "blocked", "x"]),
                        Value = random.Next(10) == 0 ? Text(random, Pick(random, [0, 1, 1024, 1025, 5000])) : $"v{random.Next(50)}",
                    });
                }

                if (random.Next(4) == 0)
                {
                    // Mostly known units; a quarter of overrides carry an unknown enum number.
                    descriptor.Limit = new RateLimitDescriptor.Types.RateLimitOverride { RequestsPerUnit = Pick(random, Uints), Unit = random.Next(4) == 0 ? Pick(random, Units) : random.Next(1, 8) };
                }

                if (random.Next(4) == 0)
                {
                    descriptor.HitsAddend = Pick(random, Ulongs);
                }

                request.Descriptors.Add(descriptor);
            }

            try
            {
                var response = await client.ShouldRateLimitAsync(request, ClientToken, cancellationToken: TestContext.Current.CancellationToken);
                answered++;
                if (response.OverallCode is not (Code.Ok or Code.OverLimit) || response.Statuses.Count != request.Descriptors.Count
                    || response.Statuses.Any(s => s.Code is not (Code.Ok or Code.OverLimit)))
                {
                    faults.Add($"case {i}: answer {response}");
                }
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument && !string.IsNullOrEmpty(ex.Status.Detail))
            {
                invalid++;
            }
            catch (RpcException ex)
            {
                faults.Add($"case {i}: {ex.StatusCode} {ex.Status.Detail} for {Describe(request)}");
            }
        }

        output.WriteLine($"RLS: {answered} answered, {invalid} INVALID_ARGUMENT, {faults.Count} faults in {clock.Elapsed.TotalSeconds:0.0} s.");
        Assert.True(faults.Count == 0, string.Join(Environment.NewLine, faults.Take(10)));
        Assert.True(answered > 100 && invalid > 100, $"the cases did not reach both answers ({answered} answered, {invalid} invalid)");
        var normal = await client.ShouldRateLimitAsync(
            new RateLimitRequest { Domain = "fuzz", Descriptors = { new RateLimitDescriptor { Entries = { new RateLimitDescriptor.Types.Entry { Key = "remote_address", Value = Guid.NewGuid().ToString() } } } } },
            ClientToken, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(Code.Ok, normal.OverallCode);
        Assert.Equal(9u, normal.Statuses[0].LimitRemaining);
    }

    [Fact(Timeout = 90_000)]
    public async Task ExtAuthzCheck_BoundaryAndRandomFields_GetOnlyDocumentedAnswers()
    {
        var client = new Authorization.AuthorizationClient(fixture.Channel);
        var random = new Random(1315);
        var (answered, faults) = (0, new List<string>());
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Cases && clock.Elapsed < Budget; i++)
        {
            var http = new AttributeContext.Types.HttpRequest
            {
                Method = Pick(random, ["GET", "", Text(random, 20)]),
                Path = random.Next(2) == 0 ? "/" : Text(random, Pick(random, [0, 10, 5000])),
                Host = Text(random, Pick(random, [0, 5, 300])),
            };
            var headerCount = Pick(random, [0, 1, 2, 5, 100]);
            for (var h = 0; h < headerCount; h++)
            {
                var name = random.Next(3) switch
                {
                    0 => Pick(random, ["x-api-key", "X-API-KEY", "x-session-id", "cookie", "x-login", "authorization"]),
                    _ => Text(random, Pick(random, [0, 1, 30])),
                };
                http.Headers[name] = random.Next(4) switch
                {
                    0 => "ock_" + Hex(random) + "_" + Text(random, 20),
                    1 => Hex(random),
                    2 => $"coordinator_session={Hex(random)}; other=1; =; ;;",
                    _ => Text(random, Pick(random, [0, 1, 64, 8000])),
                };
            }

            var attributes = new AttributeContext { Request = new AttributeContext.Types.Request { Http = http } };
            if (random.Next(3) == 0)
            {
                attributes.ContextExtensions["required_scope"] = Text(random, Pick(random, [0, 5, 2000]));
            }

            try
            {
                var response = await client.CheckAsync(new CheckRequest { Attributes = random.Next(20) == 0 ? null : attributes }, ClientToken, cancellationToken: TestContext.Current.CancellationToken);
                answered++;
                if (response.Status.Code is not (0 or 7 or 16))
                {
                    faults.Add($"case {i}: status {response.Status.Code}");
                }
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument)
            {
                answered++;
            }
            catch (RpcException ex)
            {
                faults.Add($"case {i}: {ex.StatusCode} {ex.Status.Detail}");
            }
        }

        output.WriteLine($"ext_authz: {answered} answered, {faults.Count} faults in {clock.Elapsed.TotalSeconds:0.0} s.");
        Assert.True(faults.Count == 0, string.Join(Environment.NewLine, faults.Take(10)));
        Assert.True(answered > 100, $"only {answered} cases ran");
        var normal = await client.CheckAsync(new CheckRequest { Attributes = new AttributeContext { Request = new AttributeContext.Types.Request { Http = new AttributeContext.Types.HttpRequest { Method = "GET", Path = "/" } } } },
            ClientToken, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(16, normal.Status.Code); // no credentials: UNAUTHENTICATED
    }

    private static T Pick<T>(Random random, T[] options) => options[random.Next(options.Length)];

    private static string Hex(Random random)
    {
        var bytes = new byte[16];
        random.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    private static string Text(Random random, int length)
    {
        const string alphabet = "abc019-_./%=|#:~ \t\n\0\"'\\<>ünï\u202e";
        return string.Create(length, random, static (span, r) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = alphabet[r.Next(alphabet.Length)];
            }
        });
    }

    private static string Describe(RateLimitRequest request)
    {
        var text = request.ToString();
        return text.Length <= 300 ? text : text[..300] + "...";
    }
}
