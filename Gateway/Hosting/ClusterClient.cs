using Microsoft.Extensions.Options;
using Orleans.Clustering.Redis;
using Orleans.Coordinator.Client;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using StackExchange.Redis;

namespace Orleans.Coordinator.Hosting;

/// <summary>Cluster mode: the gateway is an Orleans client that finds silos through Redis membership.</summary>
internal static class ClusterClient
{
    /// <summary>
    /// Adds the Orleans client and the process's one Redis connection (shared by the gateway list
    /// provider and readiness).
    /// </summary>
    public static void AddClusterClient(this WebApplicationBuilder builder, CoordinatorRedisOptions redis)
    {
        var cluster = builder.Configuration.GetSection(CoordinatorClusterOptions.SectionName).Get<CoordinatorClusterOptions>() ?? new();
        var tls = CoordinatorTlsOptions.FromConfiguration(builder.Configuration);

        builder.Services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var options = ConfigurationOptions.Parse(Normalize(redis));
            options.ClientName ??= "orleans-coordinator-gateway";
            if (!string.IsNullOrEmpty(redis.CaCertificatePath))
            {
                options.TrustIssuer(redis.CaCertificatePath);
            }

            // Keep retrying in the background instead of failing the process when Redis blinks, but never queue a
            // command while disconnected: a fallback decision reported as failed must not be applied later.
            options.AbortOnConnectFail = false;
            options.BacklogPolicy = BacklogPolicy.FailFast;
            return ConnectionMultiplexer.Connect(options);
        });
        builder.Services.AddHostedService(sp => new RedisWatchdogService(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<ILogger<RedisReconnectWatchdog>>()));
        builder.Services.AddSingleton<IStartupCheck>(new RedisReachable(redis));
        builder.Services.AddReadinessCheck<RedisReadinessCheck>("redis");
        builder.Services.AddReadinessCheck<ClusterReadinessCheck>("cluster");

        builder.UseOrleansClient(client =>
        {
            client.UseRedisClustering(_ => { });
            client.UseCoordinatorCluster(cluster, tls);
            client.AddActivityPropagation();
            client.UseConnectionRetryFilter(new ConnectRetry(TimeSpan.FromSeconds(60)).ShouldRetryAsync);
            // A silo connection dropped: a watch for the fleet's rate-limit domains may be waiting on that silo.
            client.AddGatewayCountChangedHandler(sp => (_, e) =>
            {
                if (e.NumberOfConnectedGateways < e.PreviousNumberOfConnectedGateways)
                {
                    sp.GetRequiredService<Envoy.RateLimitDomainsWatcher>().Restart();
                }
            });
        });

        builder.Services.AddOptions<RedisClusteringOptions>()
            .Configure<IConnectionMultiplexer>((o, multiplexer) =>
            {
                // Required by the provider's validation; the connection itself is the shared multiplexer.
                o.ConfigurationOptions = ConfigurationOptions.Parse(Normalize(redis));
                o.CreateMultiplexer = _ => Task.FromResult((multiplexer, IsShared: true));
                o.CreateRedisKey = cluster => (RedisKey)GrainKeys.RedisMembershipKey(redis.KeyPrefix, cluster.ServiceId, cluster.ClusterId);
            });
    }

    /// <summary>Runs a <see cref="RedisReconnectWatchdog"/> over the gateway's shared connection while the host runs.</summary>
    private sealed class RedisWatchdogService(IConnectionMultiplexer multiplexer, ILogger<RedisReconnectWatchdog> logger) : IHostedService
    {
        private RedisReconnectWatchdog? _watchdog;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            _watchdog = RedisReconnectWatchdog.Start(multiplexer, logger);
            return Task.CompletedTask;
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            if (_watchdog is { } watchdog)
            {
                await watchdog.DisposeAsync();
            }
        }
    }

    private static string Normalize(CoordinatorRedisOptions redis)
        => RedisConnectionString.TryNormalize(redis.ConnectionString ?? string.Empty, out var configuration, out var error)
            ? configuration
            : throw new InvalidOperationException($"Redis:ConnectionString is not valid: {error}");

    /// <summary>
    /// Before the gateway starts: Redis answers and takes the credentials, or the process stops with one line (the
    /// shared connection itself keeps retrying in the background, so it would not say).
    /// </summary>
    private sealed class RedisReachable(CoordinatorRedisOptions redis) : IStartupCheck
    {
        public async Task CheckAsync(CancellationToken cancellationToken)
        {
            var options = ConfigurationOptions.Parse(Normalize(redis));
            options.AbortOnConnectFail = true;
            options.ConnectRetry = 1;
            options.ClientName = "orleans-coordinator-gateway-check";
            if (!string.IsNullOrEmpty(redis.CaCertificatePath))
            {
                options.TrustIssuer(redis.CaCertificatePath);
            }

            try
            {
                await using var probe = await ConnectionMultiplexer.ConnectAsync(options).WaitAsync(cancellationToken);
                await probe.GetDatabase().PingAsync();
            }
            catch (RedisConnectionException ex) when (ex.FailureType == ConnectionFailureType.AuthenticationFailure)
            {
                throw new CoordinatorConfigurationException(
                    $"Redis at {string.Join(", ", options.EndPoints)} refused the credentials in Redis:ConnectionString: check the user and password (ACL).", ex);
            }
            catch (RedisConnectionException ex)
            {
                throw new CoordinatorConfigurationException(
                    $"Redis at {string.Join(", ", options.EndPoints)} cannot be reached ({ex.FailureType}): check Redis:ConnectionString and that Redis is running.", ex);
            }
        }
    }

    /// <summary>
    /// The gateway may start before any silo: keep trying for <paramref name="window"/> from the first failure,
    /// then let the start fail, so a misconfigured gateway does not hang forever.
    /// </summary>
    private sealed class ConnectRetry(TimeSpan window)
    {
        private DateTimeOffset? _firstFailure;

        public async Task<bool> ShouldRetryAsync(Exception exception, CancellationToken cancellationToken)
        {
            _firstFailure ??= DateTimeOffset.UtcNow;
            if (cancellationToken.IsCancellationRequested || DateTimeOffset.UtcNow - _firstFailure > window)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
            return true;
        }
    }
}
