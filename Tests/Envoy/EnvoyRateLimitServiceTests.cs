using Grpc.Core;
using Grpc.Net.Client;
using Orleans.Coordinator.Envoy;
using Orleans.Coordinator.Envoy.RateLimit;
using Orleans.Coordinator.Envoy.RateLimit.Common;
using Orleans.Coordinator.Tests.Infrastructure;
using static Orleans.Coordinator.Envoy.RateLimit.RateLimitResponse.Types;

namespace Orleans.Coordinator.Tests.Envoy;

/// <summary>An embedded gateway serving the Envoy RLS API on its h2c port, called by a real gRPC client.</summary>
public sealed class EnvoyRlsFixture : IAsyncLifetime
{
    public const string Yaml = """
        domain: edge
        descriptors:
          - key: remote_address
            rate_limit:
              unit: hour
              requests_per_unit: 3
          - key: api_key
            rate_limit:
              unit: minute
              requests_per_unit: 100
          - key: shadowed
            shadow_mode: true
            rate_limit:
              unit: hour
              requests_per_unit: 1
          - key: path
            value: /health
            rate_limit:
              unlimited: true
        ---
        domain: hardening
        descriptors:
          - key: remote_address
            rate_limit:
              unit: minute
              requests_per_unit: 10
          - key: user
            rate_limit:
              unit: minute
              requests_per_unit: 10
          - key: blocked
            rate_limit:
              unit: hour
              requests_per_unit: 0
        """;

    private string _file = string.Empty;

    public GatewayHost Gateway { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    public RateLimitService.RateLimitServiceClient Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _file = Path.Combine(Path.GetTempPath(), $"rls-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(_file, Yaml);
        Gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:GrpcPort"] = RedisServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RateLimit:ConfigFile"] = _file,
            ["Auth:AdminTokens:0"] = GatewayHost.AdminToken,
            ["Auth:ClientTokens:0"] = GatewayHost.ClientToken,
        });
        Channel = GrpcChannel.ForAddress(Gateway.GrpcAddress!);
        Client = new RateLimitService.RateLimitServiceClient(Channel);
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Gateway.DisposeAsync();
        File.Delete(_file);
    }
}

[CollectionDefinition(Name)]
public sealed class EnvoyRlsCollection : ICollectionFixture<EnvoyRlsFixture>
{
    public const string Name = "envoy rls";
}

[Collection(EnvoyRlsCollection.Name)]
public sealed class EnvoyRateLimitServiceTests(EnvoyRlsFixture fixture)
{
    private static readonly Grpc.Core.Metadata ClientToken = new() { { "authorization", $"Bearer {GatewayHost.ClientToken}" } };

    private static RateLimitDescriptor Descriptor(params (string Key, string Value)[] entries)
    {
        var descriptor = new RateLimitDescriptor();
        descriptor.Entries.AddRange(entries.Select(e => new RateLimitDescriptor.Types.Entry { Key = e.Key, Value = e.Value }));
        return descriptor;
    }

    private Task<RateLimitResponse> CallAsync(params RateLimitDescriptor[] descriptors) => CallAsync(0, descriptors);

    [Fact]
    public async Task GrpcHealthCheck_OnTheGrpcPort_AnswersServing_WithoutAToken()
    {
        // Arrange: the standard grpc.health.v1 client, no authorization metadata (Envoy health checks send none).
        var health = new global::Grpc.Health.V1.Health.HealthClient(fixture.Channel);

        // Act
        var answer = await health.CheckAsync(new global::Grpc.Health.V1.HealthCheckRequest(), cancellationToken: TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, answer.Status);
    }

    private async Task<RateLimitResponse> CallAsync(uint hits, params RateLimitDescriptor[] descriptors)
    {
        var request = new RateLimitRequest { Domain = "edge", HitsAddend = hits };
        request.Descriptors.AddRange(descriptors);
        return await fixture.Client.ShouldRateLimitAsync(request, ClientToken, cancellationToken: TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task ShouldRateLimit_UnderLimit_OkWithLimitRemainingAndReset()
    {
        var ip = $"10.0.{Random.Shared.Next(255)}.{Random.Shared.Next(255)}-{Guid.NewGuid():N}";

        var response = await CallAsync(Descriptor(("remote_address", ip)));

        Assert.Equal(Code.Ok, response.OverallCode);
        var status = Assert.Single(response.Statuses);
        Assert.Equal(Code.Ok, status.Code);
        Assert.Equal(3u, status.CurrentLimit.RequestsPerUnit);
        Assert.Equal(RateLimitResponse.Types.RateLimit.Types.Unit.Hour, status.CurrentLimit.Unit);
        Assert.Equal(2u, status.LimitRemaining);
        Assert.InRange(status.DurationUntilReset.ToTimeSpan(), TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1));
    }

    [Fact]
    public async Task ShouldRateLimit_OverLimit_OverallOverLimit_AndOtherDescriptorsNotCounted()
    {
        var ip = $"ip-{Guid.NewGuid():N}";
        var key = $"key-{Guid.NewGuid():N}";
        await CallAsync(3, Descriptor(("remote_address", ip)));

        var refused = await CallAsync(Descriptor(("api_key", key)), Descriptor(("remote_address", ip)));
        var keyAfter = await CallAsync(Descriptor(("api_key", key)));

        Assert.Equal(Code.OverLimit, refused.OverallCode);
        Assert.Equal(Code.Ok, refused.Statuses[0].Code);
        Assert.Equal(Code.OverLimit, refused.Statuses[1].Code);
        Assert.Equal(0u, refused.Statuses[1].LimitRemaining);
        Assert.Equal(99u, keyAfter.Statuses[0].LimitRemaining); // the refused request cost the api key nothing
    }

    [Fact]
    public async Task ShouldRateLimit_HitsAddend_RequestAndDescriptorLevel()
    {
        var key = $"key-{Guid.NewGuid():N}";
        var perDescriptor = Descriptor(("api_key", key));
        perDescriptor.HitsAddend = 7;

        var request = await CallAsync(10, Descriptor(("api_key", key)));
        var descriptor = await CallAsync(10, perDescriptor);

        Assert.Equal(90u, request.Statuses[0].LimitRemaining);
        Assert.Equal(83u, descriptor.Statuses[0].LimitRemaining);
    }

    [Fact]
    public async Task ShouldRateLimit_DescriptorLimitOverride_ReplacesTheConfiguredLimit()
    {
        var descriptor = Descriptor(("api_key", $"key-{Guid.NewGuid():N}"));
        descriptor.Limit = new RateLimitDescriptor.Types.RateLimitOverride { RequestsPerUnit = 2, Unit = 1 };

        var first = await CallAsync(descriptor);
        var third = await CallAsync(3, descriptor); // 3 hits never fit a limit of 2, whatever second it is

        Assert.Equal(2u, first.Statuses[0].CurrentLimit.RequestsPerUnit);
        Assert.Equal(RateLimitResponse.Types.RateLimit.Types.Unit.Second, first.Statuses[0].CurrentLimit.Unit);
        Assert.Equal(Code.OverLimit, third.OverallCode);
    }

    [Fact]
    public async Task ShouldRateLimit_NoRuleUnlimitedAndShadow_AllAnswerOk()
    {
        var shadowKey = $"s-{Guid.NewGuid():N}";

        var response = await CallAsync(
            Descriptor(("no_such_rule", "x")),
            Descriptor(("path", "/health")),
            Descriptor(("shadowed", shadowKey)));
        var shadowAgain = await CallAsync(Descriptor(("shadowed", shadowKey)));

        Assert.Equal(Code.Ok, response.OverallCode);
        Assert.Null(response.Statuses[0].CurrentLimit);
        Assert.Null(response.Statuses[1].CurrentLimit);
        Assert.Equal(Code.Ok, shadowAgain.OverallCode);
        Assert.Equal(Code.Ok, shadowAgain.Statuses[0].Code);
        Assert.Equal(0u, shadowAgain.Statuses[0].LimitRemaining);
    }

    [Fact]
    public async Task ShouldRateLimit_EmptyDomainOrNoDescriptors_IsInvalidArgument()
    {
        var noDomain = await Assert.ThrowsAsync<RpcException>(() => fixture.Client.ShouldRateLimitAsync(
            new RateLimitRequest { Descriptors = { Descriptor(("a", "b")) } }, ClientToken, cancellationToken: TestContext.Current.CancellationToken).ResponseAsync);
        var noDescriptors = await Assert.ThrowsAsync<RpcException>(() => fixture.Client.ShouldRateLimitAsync(
            new RateLimitRequest { Domain = "edge" }, ClientToken, cancellationToken: TestContext.Current.CancellationToken).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, noDomain.StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, noDescriptors.StatusCode);
    }

    [Fact]
    public async Task ShouldRateLimit_WithoutToken_IsRefused()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => fixture.Client.ShouldRateLimitAsync(
            new RateLimitRequest { Domain = "edge", Descriptors = { Descriptor(("a", "b")) } }, cancellationToken: TestContext.Current.CancellationToken).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
    }

    [Fact]
    public void MalformedConfigFile_RefusesToStart_NamingTheLine()
    {
        var file = Path.Combine(Path.GetTempPath(), $"bad-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, "domain: edge\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: weekly\n      requests_per_unit: 1\n");
        try
        {
            var ex = Assert.Throws<EnvoyConfigException>(() => GatewayHost.Build(new Dictionary<string, string?> { ["RateLimit:ConfigFile"] = file }));

            Assert.Contains("line 5", ex.Message, StringComparison.Ordinal);
            Assert.Contains("unknown unit 'weekly'", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
