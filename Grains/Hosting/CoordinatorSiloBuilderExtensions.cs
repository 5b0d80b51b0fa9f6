using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Clustering.Redis;
using Orleans.Configuration;
using Orleans.Connections.Security;
using Orleans.Coordinator.Grains.Coordination;
using Orleans.Coordinator.Grains.Identity;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Leases;
using Orleans.Persistence;
using StackExchange.Redis;

namespace Orleans.Coordinator.Grains.Hosting;

/// <summary>The one call that turns an Orleans silo into a coordinator silo.</summary>
public static class CoordinatorSiloBuilderExtensions
{
    /// <summary>
    /// The period of the coordinator's durable reminders (approval expiry): after a silo restart an overdue reminder fires
    /// within one period. Orleans' minimum (1 min by default) is lowered to it.
    /// </summary>
    public static readonly TimeSpan ReminderPeriod = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Adds the coordinator grains and everything they need, configured from the silo's configuration
    /// (sections <c>Redis</c>, <c>Orleans</c>, <c>Leases</c>, <c>Mappings</c>).
    /// <list type="bullet">
    /// <item>With <c>Redis:ConnectionString</c>: grain state and route mappings in Redis under
    /// <c>Redis:KeyPrefix</c>, over one shared connection, and (when <paramref name="useRedisClustering"/>)
    /// Redis membership with fast failure detection.</item>
    /// <item>Without: in-memory grain storage and route mappings; the caller chooses clustering
    /// (localhost clustering, or a TestCluster's own membership).</item>
    /// </list>
    /// </summary>
    public static ISiloBuilder AddCoordinator(this ISiloBuilder builder, bool useRedisClustering = true)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = ReminderPeriod);
        services.AddCoordinatorGrainServices();
        // Trace context flows through grain calls, so a gateway request, its grain call and Redis share one trace.
        builder.AddActivityPropagation();
        services.AddOptions<GrainDirectoryOptions>()
            .Configure<IOptions<CoordinatorClusterOptions>>((o, cluster) =>
            {
                o.CacheSize = cluster.Value.DirectoryCacheSize;
                // After a silo dies ungracefully, Orleans holds its directory ranges (and, when a partition cannot get a
                // snapshot from an unresponsive previous owner, a whole range) for this long before grains re-register,
                // to keep activations single. Here every exactly-once rule rests on storage ETags and fencing tokens, not
                // on single activation, so a short hold trades nothing and lets a frozen silo's keys move in seconds
                // (PausedSiloTests saw a takeover of 72 s, instead of 12 s, when the hold applied).
                o.RangeLeaseDuration = TimeSpan.FromSeconds(5);
            });

        services.TryAddSingleton<Routing.RouteChangeStamps>();
        var tls = CoordinatorTlsOptions.FromConfiguration(builder.Configuration);
        if (tls.IsEnabled)
        {
            builder.UseCoordinatorTls(tls);
        }

        var redis = builder.Configuration.GetSection(CoordinatorRedisOptions.SectionName).Get<CoordinatorRedisOptions>() ?? new();
        if (!redis.IsConfigured)
        {
            services.TryAddSingleton<IRouteStore, InMemoryRouteStore>();
            services.TryAddSingleton<IFallbackLeases, NoFallbackLeases>();
            services.TryAddSingleton<IJtiStore, InMemoryJtiStore>();
            builder.AddMemoryGrainStorage(CoordinatorStorage.Name, o => o.GrainStorageSerializer = new JsonGrainStateSerializer());
            builder.UseInMemoryReminderService();
            return builder;
        }

        services.TryAddSingleton<CoordinatorRedis>();
        services.AddSingleton<RedisStartupCheck>();
        services.AddHostedService(sp => sp.GetRequiredService<RedisStartupCheck>());
        services.AddSingleton<IStartupCheck>(sp => sp.GetRequiredService<RedisStartupCheck>());
        services.TryAddSingleton<IRouteStore, RedisRouteStore>();
        services.AddHostedService<Routing.RouteKeyspaceListener>(); // redis-cli SET/DEL of a route reaches its grain at once
        services.TryAddSingleton<IFallbackLeases, RedisFallbackLeases>();
        services.TryAddSingleton<IJtiStore, RedisJtiStore>();
        // State in Redis outlives the process: its secrets must come from configuration.
        services.AddSingleton<IValidateOptions<SecurityOptions>, SecretsRequiredInClusterMode>();

        builder.AddRedisGrainStorage(CoordinatorStorage.Name, (OptionsBuilder<RedisStorageOptions> storage) => storage
            .Configure<CoordinatorRedis, IOptions<ClusterOptions>>((o, shared, cluster) =>
            {
                o.ConfigurationOptions = CoordinatorRedis.BuildConfiguration(shared.Options);
                o.CreateMultiplexer = async _ => (await shared.GetAsync(), IsShared: true);
                o.GrainStorageSerializer = new JsonGrainStateSerializer();
                o.DeleteStateOnClear = true;
                var prefix = GrainKeys.RedisGrainStatePrefix(shared.KeyPrefix, cluster.Value.ServiceId);
                o.GetStorageKey = (grainType, grainId) => $"{prefix}{grainId}/{grainType}";
            }));

        // Durable reminders (approval expiry) in Redis, over the shared connection. The provider names its key itself:
        // "{ServiceId}/reminders" (not under Redis:KeyPrefix; the ACL file allows it).
        builder.UseRedisReminderService(_ => { });
        services.AddOptions<RedisReminderTableOptions>()
            .Configure<CoordinatorRedis>((o, shared) =>
            {
                o.ConfigurationOptions = CoordinatorRedis.BuildConfiguration(shared.Options);
                o.CreateMultiplexer = async _ => (await shared.GetAsync(), IsShared: true);
            });

        if (useRedisClustering)
        {
            builder.UseRedisClustering(_ => { });
            services.AddOptions<RedisClusteringOptions>()
                .Configure<CoordinatorRedis>((o, shared) =>
                {
                    o.ConfigurationOptions = CoordinatorRedis.BuildConfiguration(shared.Options);
                    o.CreateMultiplexer = async _ => (await shared.GetAsync(), IsShared: true);
                    o.CreateRedisKey = cluster => (RedisKey)GrainKeys.RedisMembershipKey(shared.KeyPrefix, cluster.ServiceId, cluster.ClusterId);
                });
            services.AddOptions<ClusterMembershipOptions>()
                .Configure<IOptions<CoordinatorClusterOptions>>((o, cluster) =>
                {
                    o.ProbeTimeout = cluster.Value.ProbeTimeout;
                    o.NumMissedProbesLimit = cluster.Value.NumMissedProbesLimit;
                    o.NumVotesForDeathDeclaration = 1;
                    o.TableRefreshTimeout = TimeSpan.FromSeconds(5);
                    o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);
                });
            services.AddOptions<SiloMessagingOptions>()
                .Configure<IOptions<CoordinatorClusterOptions>>((o, cluster) => o.ResponseTimeout = cluster.Value.ResponseTimeout);
        }

        return builder;
    }

    /// <summary>
    /// Mutual TLS on every Orleans connection of this silo (Microsoft.Orleans.Connections.Security): silo to silo in both
    /// directions, and clients (gateways, internal services) to this silo. The silo presents
    /// <see cref="CoordinatorTlsOptions.CertificatePath"/> and accepts a peer only when the peer presents a certificate that
    /// chains to <see cref="CoordinatorTlsOptions.CaPath"/>; a peer without one is dropped during the handshake.
    /// </summary>
    /// <exception cref="InvalidOperationException">A TLS file cannot be read.</exception>
    public static ISiloBuilder UseCoordinatorTls(this ISiloBuilder builder, CoordinatorTlsOptions tls)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(tls);
        var trusted = CoordinatorTlsOptions.TrustedBy(tls.LoadCa());
        return builder.UseTls(tls.LoadCertificate(), o =>
        {
            o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            o.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
            o.RemoteCertificateValidation = (certificate, chain, _) => trusted(certificate, chain);
            o.HandshakeTimeout = tls.HandshakeTimeout;
        });
    }

    private sealed class SecretsRequiredInClusterMode : IValidateOptions<SecurityOptions>
    {
        public ValidateOptionsResult Validate(string? name, SecurityOptions options) => options.HasSecrets
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(
                "Cluster mode needs Security:SessionKeys (Security__SessionKeys__0__Id=k1, Security__SessionKeys__0__Key=<openssl rand -base64 32>) " +
                "and Security:ApiKeyHmacSecret (<openssl rand -base64 32>) on every silo: session data and API keys in Redis are protected with them.");
    }

    /// <summary>Registers the services the grains depend on, with validated options.</summary>
    public static IServiceCollection AddCoordinatorGrainServices(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new CoordinatorClock(sp.GetRequiredService<TimeProvider>()));
        services.AddValidatedOptions<CoordinatorRedisOptions>(CoordinatorRedisOptions.SectionName);
        services.AddValidatedOptions<CoordinatorClusterOptions>(CoordinatorClusterOptions.SectionName);
        services.AddValidatedOptions<LeaseOptions>(LeaseOptions.SectionName);
        services.AddValidatedOptions<MappingOptions>(MappingOptions.SectionName);
        services.AddValidatedOptions<SecurityOptions>(SecurityOptions.SectionName);
        services.AddValidatedOptions<InstanceOptions>(InstanceOptions.SectionName);
        services.AddValidatedOptions<CacheOptions>(CacheOptions.SectionName);
        services.AddValidatedOptions<WebhookOptions>(WebhookOptions.SectionName);
        services.TryAddSingleton<Webhooks.WebhookSender>();
        services.TryAddSingleton<Caching.SiloCacheMemory>();
        services.TryAddSingleton<IdentitySecrets>();
        return services;
    }
}
