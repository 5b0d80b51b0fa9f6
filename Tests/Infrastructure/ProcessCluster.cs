using System.Globalization;
using System.Net.Http.Headers;

namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>
/// Redis, silos and one gateway as real processes, as the quick start runs them (default resilience settings), for
/// the chaos and timing tests. Dispose kills every process and Redis.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    public const string Token = "process-cluster-admin-token-0123456789";

    private readonly RedisServer? _redis;

    private ProcessCluster(RedisServer? redis, Dictionary<string, string> common, List<CoordinatorProcess> silos, CoordinatorProcess gateway, HttpClient http)
        => (_redis, Common, Silos, Gateway, Http) = (redis, common, silos, gateway, http);

    /// <summary>The Redis this cluster started (not when it runs on one the caller gave).</summary>
    public RedisServer Redis => _redis ?? throw new InvalidOperationException("this cluster runs on a Redis the caller started");

    /// <summary>The settings every process got (service id, secrets, token).</summary>
    public Dictionary<string, string> Common { get; }

    public List<CoordinatorProcess> Silos { get; }

    public CoordinatorProcess Gateway { get; }

    /// <summary>An HTTP client for the gateway with the admin token.</summary>
    public HttpClient Http { get; }

    /// <summary>
    /// Starts Redis (unless <paramref name="redisConnectionString"/> names one, e.g. a Redis Cluster), <paramref name="silos"/>
    /// silos and a gateway; <paramref name="settings"/> go to every process.
    /// </summary>
    public static async Task<ProcessCluster> StartAsync(string name, int silos = 2, IReadOnlyDictionary<string, string>? settings = null, string? redisConnectionString = null)
    {
        var redis = redisConnectionString is null ? await RedisServer.StartAsync() : null;
        var common = new Dictionary<string, string>
        {
            ["Redis__ConnectionString"] = redisConnectionString ?? redis!.ConnectionString,
            ["Orleans__ServiceId"] = name + Guid.NewGuid().ToString("N")[..8],
            ["Auth__AdminTokens__0"] = Token,
            ["Logging__LogLevel__Default"] = "Warning",
            ["Security__SessionKeys__0__Id"] = "k1",
            ["Security__SessionKeys__0__Key"] = TestSecrets.NewSessionKey,
            ["Security__ApiKeyHmacSecret"] = TestSecrets.HmacSecret,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            common[key] = value;
        }

        var started = Enumerable.Range(0, silos).Select(_ => CoordinatorProcess.Start("Silo", RedisServer.FreePort(), SiloSettings(common))).ToList();
        await Task.WhenAll(started.Select(s => s.WaitUntilReadyAsync(TimeSpan.FromSeconds(90))));
        var gateway = CoordinatorProcess.Start("Gateway", RedisServer.FreePort(), new Dictionary<string, string>(common) { ["Gateway__GrpcPort"] = "-1" });
        await gateway.WaitUntilReadyAsync(TimeSpan.FromSeconds(90));
        var http = new HttpClient { BaseAddress = gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return new ProcessCluster(redis, common, started, gateway, http);
    }

    /// <summary>The common settings with fresh silo and gateway ports.</summary>
    public static Dictionary<string, string> SiloSettings(Dictionary<string, string> common) => new(common)
    {
        ["Orleans__SiloPort"] = RedisServer.FreePort().ToString(CultureInfo.InvariantCulture),
        ["Orleans__GatewayPort"] = RedisServer.FreePort().ToString(CultureInfo.InvariantCulture),
    };

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Gateway.DisposeAsync();
        foreach (var silo in Silos)
        {
            await silo.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }
}
