using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Hosting;
using StackExchange.Redis;

namespace Orleans.Coordinator.Benchmarks.Harness;

/// <summary>
/// What the throughput scenarios run against, all on 127.0.0.1: a <c>redis-server</c> on a free port, one Silo
/// process (Redis membership and storage), optionally a Gateway process, and this process as an Orleans client.
/// </summary>
public sealed class BenchCluster : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];

    public required IGrainFactory Grains { get; init; }

    public required IConnectionMultiplexer Redis { get; init; }

    public Uri? GatewayHttp { get; private set; }

    public Uri? GatewayGrpc { get; private set; }

    public const string Token = "bench-token-0123456789abcdef0123";

    public static async Task<BenchCluster> StartAsync(bool withGateway, int silos = 1)
    {
        var owned = new List<IAsyncDisposable>();
        var redisServer = await ChildProcess.StartRedisAsync();
        owned.Add(redisServer);
        var (connection, dataDir) = (redisServer.Connection, redisServer.DataDirectory);

        var serviceId = "bench" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var common = new Dictionary<string, string>
        {
            ["Redis__ConnectionString"] = connection,
            ["Orleans__ServiceId"] = serviceId,
            ["Auth__AdminTokens__0"] = Token,
            ["Auth__ClientTokens__0"] = Token,
            ["Logging__LogLevel__Default"] = "Warning",
            ["Security__SessionKeys__0__Id"] = "k1",
            ["Security__SessionKeys__0__Key"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["Security__ApiKeyHmacSecret"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        };
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        for (var i = 0; i < silos; i++)
        {
            var siloHttp = ChildProcess.FreePort();
            var silo = ChildProcess.StartProject("Silo", siloHttp, new Dictionary<string, string>(common)
            {
                ["Orleans__SiloPort"] = $"{ChildProcess.FreePort()}",
                ["Orleans__GatewayPort"] = $"{ChildProcess.FreePort()}",
            });
            owned.Add(silo);
            await silo.WaitUntilAsync(async () => (await http.GetAsync($"http://127.0.0.1:{siloHttp}/readyz")).IsSuccessStatusCode, TimeSpan.FromSeconds(60), $"silo {i + 1} of {silos} to be ready");
        }

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client => client.UseRedisClustering(o =>
        {
            o.ConfigurationOptions = ConfigurationOptions.Parse(connection);
            o.CreateRedisKey = cluster => (RedisKey)GrainKeys.RedisMembershipKey("coordinator:", cluster.ServiceId, cluster.ClusterId);
        }));
        builder.Services.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = ("coordinator", serviceId));
        var client = builder.Build();
        await client.StartAsync();
        owned.Add(new AsyncHost(client));
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(connection);
        owned.Add(multiplexer);

        var cluster = new BenchCluster { Grains = client.Services.GetRequiredService<IGrainFactory>(), Redis = multiplexer };
        cluster._owned.AddRange(owned);
        if (withGateway)
        {
            var (gatewayHttp, gatewayGrpc) = (ChildProcess.FreePort(), ChildProcess.FreePort());
            var rules = Path.Combine(dataDir, "ratelimit.yaml");
            await File.WriteAllTextAsync(rules, "domain: bench\ndescriptors:\n  - key: k\n    rate_limit:\n      unit: minute\n      requests_per_unit: 1000000000\n");
            var gateway = ChildProcess.StartProject("Gateway", gatewayHttp, new Dictionary<string, string>(common)
            {
                ["Gateway__GrpcPort"] = $"{gatewayGrpc}",
                ["RateLimit__ConfigFile"] = rules,
            });
            cluster._owned.Add(gateway);
            await gateway.WaitUntilAsync(async () => (await http.GetAsync($"http://127.0.0.1:{gatewayHttp}/readyz")).IsSuccessStatusCode, TimeSpan.FromSeconds(60), "the gateway to be ready");
            cluster.GatewayHttp = new Uri($"http://127.0.0.1:{gatewayHttp}");
            cluster.GatewayGrpc = new Uri($"http://127.0.0.1:{gatewayGrpc}");
        }

        return cluster;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var item in Enumerable.Reverse(_owned))
        {
            await item.DisposeAsync();
        }
    }

    private sealed class AsyncHost(IHost host) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await host.StopAsync();
            host.Dispose();
        }
    }
}
