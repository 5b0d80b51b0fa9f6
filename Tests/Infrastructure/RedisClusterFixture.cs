using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Orleans.Clustering.Redis;
using Orleans.Configuration;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.TestingHost;
using StackExchange.Redis;

namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>
/// A real redis-server and a TestCluster of two silos that use Redis membership (not the test
/// membership) and Redis grain storage, configured by <see cref="CoordinatorSiloBuilderExtensions.AddCoordinator"/>.
/// </summary>
public sealed class RedisClusterFixture : IAsyncLifetime
{
    public const int DefaultMaxConnections = 5;

    public RedisServer Redis { get; private set; } = null!;

    public TestCluster Cluster { get; private set; } = null!;

    public string KeyPrefix { get; } = TestKeys.Prefix("rc");

    public IGrainFactory Grains => Cluster.Client;

    public string ServiceId => Cluster.Options.ServiceId;

    public string ClusterId => Cluster.Options.ClusterId;

    /// <summary>
    /// Settings for a cluster-mode gateway (or client) that joins this cluster. The data-plane timeout is raised
    /// from its 50 ms default: these tests check functional behaviour and exactness on a busy 2-core machine, where a
    /// slow grain call must not turn into a fallback answer. The resilience tests use the default.
    /// </summary>
    public Dictionary<string, string?> GatewaySettings(string? keyPrefix = null) => new()
    {
        ["Resilience:DataPlaneTimeout"] = "00:00:05",
        ["Redis:ConnectionString"] = Redis.ConnectionString,
        ["Redis:KeyPrefix"] = keyPrefix ?? KeyPrefix,
        ["Orleans:ClusterId"] = ClusterId,
        ["Orleans:ServiceId"] = ServiceId,
        ["Auth:AdminTokens:0"] = GatewayHost.AdminToken,
        ["Auth:ClientTokens:0"] = GatewayHost.ClientToken,
    };

    /// <summary>
    /// Settings for a gateway joining a cluster a test started on its own (<see cref="StartClusterAsync"/>):
    /// no authentication, the default resilience settings unless <paramref name="extra"/> says otherwise.
    /// </summary>
    public static Dictionary<string, string?> StandaloneGatewaySettings(RedisServer redis, string keyPrefix, TestCluster cluster, IDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Redis:KeyPrefix"] = keyPrefix,
            ["Orleans:ClusterId"] = cluster.Options.ClusterId,
            ["Orleans:ServiceId"] = cluster.Options.ServiceId,
            ["Auth:Disabled"] = "true",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return settings;
    }

    public async ValueTask InitializeAsync()
    {
        Redis = await RedisServer.StartAsync();
        Cluster = await StartClusterAsync(Redis, KeyPrefix, silos: 2);
    }

    /// <summary>Starts a Redis-backed TestCluster; used for the second deployment of the isolation test too.</summary>
    public static async Task<TestCluster> StartClusterAsync(RedisServer redis, string keyPrefix, int silos, string cacheTtl = "00:00:30")
    {
        var builder = new TestClusterBuilder((short)silos);
        builder.Options.UseTestClusterMembership = false;
        // Real sockets: gateways and internal-service clients connect from outside the test cluster.
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        builder.ConfigureHostConfiguration(c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Redis:KeyPrefix"] = keyPrefix,
            ["Leases:DefaultMaxConnections"] = DefaultMaxConnections.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Leases:FlushInterval"] = "00:00:00.200",
            ["Mappings:DefaultDestination"] = "legacy",
            ["Mappings:CacheTtl"] = cacheTtl,
            ["Security:SessionKeys:0:Id"] = "old",
            ["Security:SessionKeys:0:Key"] = TestSecrets.OldSessionKey,
            ["Security:SessionKeys:1:Id"] = "new",
            ["Security:SessionKeys:1:Key"] = TestSecrets.NewSessionKey,
            ["Security:ApiKeyHmacSecret"] = TestSecrets.HmacSecret,
            ["Instances:HeartbeatInterval"] = "00:00:00.250",
            ["Instances:DeadAfter"] = "00:00:03",
            ["Webhooks:AllowedHosts:0"] = "127.0.0.1", // the tests' receivers listen on loopback
            ["Webhooks:InitialBackoff"] = "00:00:03", // room to kill a silo between the first two attempts
            ["Webhooks:PumpPeriod"] = "00:00:05",
        }));
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        builder.AddClientBuilderConfigurator<ClientConfigurator>();
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    /// <summary>The silo that hosts <paramref name="grain"/>'s activation (activating it if needed).</summary>
    /// <remarks>Waits (bounded) while the directory still names a silo that was just killed.</remarks>
    public async Task<SiloHandle> SiloHostingAsync(IAddressable grain)
    {
        SiloHandle? host = null;
        await Wait.UntilAsync(async () =>
        {
            var address = await Cluster.Client.GetGrain<IManagementGrain>(0).GetActivationAddress(grain);
            host = Cluster.Silos.SingleOrDefault(s => s.SiloAddress.Equals(address));
            return host is not null;
        }, TimeSpan.FromSeconds(20), $"the directory to name a live silo for {grain}");
        return host!;
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        await Redis.DisposeAsync();
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder) => siloBuilder.AddCoordinator();
    }

    private sealed class ClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder clientBuilder)
        {
            var prefix = configuration["Redis:KeyPrefix"]!;
            clientBuilder.UseRedisClustering(o =>
            {
                o.ConfigurationOptions = ConfigurationOptions.Parse(configuration["Redis:ConnectionString"]!);
                o.CreateRedisKey = cluster => (RedisKey)GrainKeys.RedisMembershipKey(prefix, cluster.ServiceId, cluster.ClusterId);
            });
            clientBuilder.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(5));
            clientBuilder.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(1));
        }
    }
}

[CollectionDefinition(Name)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisClusterFixture>
{
    public const string Name = "redis cluster";
}
