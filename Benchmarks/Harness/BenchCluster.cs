using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Coordinator.Client;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
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

    /// <summary>
    /// Starts Redis, <paramref name="silos"/> silo processes, this process's Orleans client and (optionally) a gateway;
    /// <paramref name="settings"/> go to every process, and <c>Tls__*</c> among them to the client too (mutual TLS).
    /// </summary>
    public static async Task<BenchCluster> StartAsync(bool withGateway, int silos = 1, IReadOnlyDictionary<string, string>? settings = null)
    {
        var owned = new List<IAsyncDisposable>();
        var redisServer = await ChildProcess.StartRedisAsync();
        owned.Add(redisServer);
        var (connection, dataDir) = (redisServer.Connection, redisServer.DataDirectory);

        var serviceId = "bench" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var common = new Dictionary<string, string>(Common)
        {
            ["Redis__ConnectionString"] = connection,
            ["Orleans__ServiceId"] = serviceId,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            common[key] = value;
        }

        for (var i = 0; i < silos; i++)
        {
            owned.Add(await StartReadyAsync("Silo", ChildProcess.FreePort(), new Dictionary<string, string>(common)
            {
                ["Orleans__SiloPort"] = $"{ChildProcess.FreePort()}",
                ["Orleans__GatewayPort"] = $"{ChildProcess.FreePort()}",
            }, "/readyz", $"silo {i + 1} of {silos} to be ready"));
        }

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client =>
        {
            client.UseRedisClustering(o =>
            {
                o.ConfigurationOptions = ConfigurationOptions.Parse(connection);
                o.CreateRedisKey = cluster => (RedisKey)GrainKeys.RedisMembershipKey("coordinator:", cluster.ServiceId, cluster.ClusterId);
            });
            if (common.TryGetValue("Tls__CertificatePath", out var certificate))
            {
                client.UseCoordinatorTls(new CoordinatorTlsOptions { CertificatePath = certificate, KeyPath = common["Tls__KeyPath"], CaPath = common["Tls__CaPath"] });
            }
        });
        builder.Services.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = ("coordinator", serviceId));
        var client = builder.Build();
        await client.StartAsync();
        owned.Add(new AsyncHost(client));
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(connection);
        owned.Add(multiplexer);

        var cluster = new BenchCluster { Grains = client.Services.GetRequiredService<IGrainFactory>(), Redis = multiplexer, _rules = Path.Combine(dataDir, "ratelimit.yaml") };
        await File.WriteAllTextAsync(cluster._rules, "domain: bench\ndescriptors:\n  - key: k\n    rate_limit:\n      unit: minute\n      requests_per_unit: 1000000000\n");
        cluster._owned.AddRange(owned);
        if (withGateway)
        {
            (cluster.GatewayHttp, cluster.GatewayGrpc) = await cluster.StartGatewayAsync(new Dictionary<string, string>(common), "the gateway to be ready");
        }

        return cluster;
    }

    private string _rules = string.Empty;

    /// <summary>Settings every process of the benchmark shares (tokens, secrets, quiet logs).</summary>
    private static readonly Dictionary<string, string> Common = new()
    {
        ["Auth__AdminTokens__0"] = Token,
        ["Auth__ClientTokens__0"] = Token,
        ["Logging__LogLevel__Default"] = "Warning",
        ["Security__SessionKeys__0__Id"] = "k1",
        ["Security__SessionKeys__0__Key"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        ["Security__ApiKeyHmacSecret"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
    };

    /// <summary>
    /// Starts a second gateway in embedded mode (its own silo in the process, in-memory state, no Redis) with the same
    /// rules; it is stopped with the cluster. Answers its HTTP and gRPC addresses.
    /// </summary>
    public Task<(Uri Http, Uri Grpc)> StartEmbeddedGatewayAsync()
        => StartGatewayAsync(new Dictionary<string, string>(Common), "the embedded gateway to be ready");

    /// <summary>Starts the bare minimal API (<c>Benchmarks/BareApi</c>), the machine's HTTP ceiling; stopped with the cluster.</summary>
    public async Task<Uri> StartBareApiAsync()
    {
        var port = ChildProcess.FreePort();
        _owned.Add(await StartReadyAsync("BareApi", port, new Dictionary<string, string>(), "/healthz", "the bare minimal API to answer", Path.Combine("Benchmarks", "BareApi")));
        return new Uri($"http://127.0.0.1:{port}");
    }

    /// <summary>A gateway process with these settings and the benchmark's rules (cluster mode when they name Redis); stopped with the cluster.</summary>
    private async Task<(Uri Http, Uri Grpc)> StartGatewayAsync(Dictionary<string, string> environment, string what)
    {
        var (httpPort, grpcPort) = (ChildProcess.FreePort(), ChildProcess.FreePort());
        environment["Gateway__GrpcPort"] = $"{grpcPort}";
        environment["RateLimit__ConfigFile"] = _rules;
        _owned.Add(await StartReadyAsync("Gateway", httpPort, environment, "/readyz", what));
        return (new Uri($"http://127.0.0.1:{httpPort}"), new Uri($"http://127.0.0.1:{grpcPort}"));
    }

    /// <summary>Starts a built project and waits (60 s at most) until <paramref name="readyPath"/> answers 2xx.</summary>
    private static async Task<ChildProcess> StartReadyAsync(
        string project, int port, IDictionary<string, string> environment, string readyPath, string what, string? directory = null)
    {
        var process = ChildProcess.StartProject(project, port, environment, directory);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            await process.WaitUntilAsync(async () => (await http.GetAsync($"http://127.0.0.1:{port}{readyPath}")).IsSuccessStatusCode, TimeSpan.FromSeconds(60), what);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }

        return process;
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
