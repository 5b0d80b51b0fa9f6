using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Connections.Security;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Hosting;
using StackExchange.Redis;

namespace Orleans.Coordinator.Client;

/// <summary>Joins an Orleans.Coordinator cluster from an internal .NET service.</summary>
public static class CoordinatorClientExtensions
{
    /// <summary>
    /// Adds an Orleans client that finds the silos through Redis membership, with the silos' settings:
    /// <c>Redis:ConnectionString</c> (required; a StackExchange.Redis string or a <c>redis://</c>/<c>rediss://</c> URL),
    /// <c>Redis:KeyPrefix</c> (default <c>coordinator:</c>), <c>Redis:CaCertificatePath</c>, <c>Orleans:ServiceId</c>,
    /// <c>Orleans:ClusterId</c>, <c>Orleans:ResponseTimeout</c> (default 3 s), <c>Orleans:GatewayListRefreshPeriod</c>, and
    /// <c>Tls:CertificatePath</c>/<c>Tls:KeyPath</c>/<c>Tls:CaPath</c> when the silos require mutual TLS.
    /// Registers <see cref="RateLimitCoalescer"/> (many rate-limit checks in one grain call per shard) as a singleton.
    /// </summary>
    /// <exception cref="CoordinatorConfigurationException">A setting is missing or invalid; the message names every one.</exception>
    public static IHostApplicationBuilder AddCoordinatorClient(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var redis = builder.Configuration.GetSection(CoordinatorRedisOptions.SectionName).Get<CoordinatorRedisOptions>() ?? new();
        var cluster = builder.Configuration.GetSection(CoordinatorClusterOptions.SectionName).Get<CoordinatorClusterOptions>() ?? new();
        var tls = builder.Configuration.GetSection(CoordinatorTlsOptions.SectionName).Get<CoordinatorTlsOptions>() ?? new();
        var problems = redis.Validate().Concat(cluster.Validate()).Concat(tls.Validate()).ToList();
        string? configuration = null;
        if (!redis.IsConfigured)
        {
            problems.Insert(0, "Redis:ConnectionString is required: the client finds the silos through Redis membership.");
        }
        else if (!RedisConnectionString.TryNormalize(redis.ConnectionString!, out configuration, out var error))
        {
            problems.Insert(0, $"Redis:ConnectionString is not valid: {error}");
        }

        if (problems.Count > 0)
        {
            throw new CoordinatorConfigurationException(string.Join(" ", problems));
        }

        builder.Services.AddValidatedOptions<CoordinatorRedisOptions>(CoordinatorRedisOptions.SectionName);
        builder.Services.AddValidatedOptions<CoordinatorClusterOptions>(CoordinatorClusterOptions.SectionName);
        builder.UseOrleansClient(client =>
        {
            client.UseRedisClustering(options =>
            {
                options.ConfigurationOptions = ConfigurationOptions.Parse(configuration!);
                if (!string.IsNullOrEmpty(redis.CaCertificatePath))
                {
                    options.ConfigurationOptions.TrustIssuer(redis.CaCertificatePath);
                }

                // The silos' membership key: the same prefix, service id and cluster id.
                options.CreateRedisKey = ids => (RedisKey)GrainKeys.RedisMembershipKey(redis.KeyPrefix, ids.ServiceId, ids.ClusterId);
            });
            client.UseCoordinatorCluster(cluster, tls);
        });
        builder.Services.AddSingleton(sp => new RateLimitCoalescer(sp.GetRequiredService<IClusterClient>()));
        return builder;
    }

    /// <summary>
    /// The client settings every caller of the silos shares (this package's <see cref="AddCoordinatorClient"/> and the
    /// gateway): cluster and service ids, response timeout, gateway-list refresh, and with <paramref name="tls"/> enabled
    /// mutual TLS (see <see cref="UseCoordinatorTls"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">A TLS file cannot be read.</exception>
    public static IClientBuilder UseCoordinatorCluster(this IClientBuilder client, CoordinatorClusterOptions cluster, CoordinatorTlsOptions tls)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(tls);
        client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (cluster.ClusterId, cluster.ServiceId));
        client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = cluster.ResponseTimeout);
        client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = cluster.GatewayListRefreshPeriod);
        return tls.IsEnabled ? client.UseCoordinatorTls(tls) : client;
    }

    /// <summary>
    /// Mutual TLS on the client's connections to silos (Microsoft.Orleans.Connections.Security): this process presents
    /// <see cref="CoordinatorTlsOptions.CertificatePath"/>, and accepts a silo only when its certificate chains to
    /// <see cref="CoordinatorTlsOptions.CaPath"/> (TLS 1.2 or 1.3).
    /// </summary>
    /// <exception cref="InvalidOperationException">A TLS file cannot be read.</exception>
    public static IClientBuilder UseCoordinatorTls(this IClientBuilder client, CoordinatorTlsOptions tls)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(tls);
        var trusted = CoordinatorTlsOptions.TrustedBy(tls.LoadCa());
        return client.UseTls(tls.LoadCertificate(), o =>
        {
            o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            o.RemoteCertificateValidation = (certificate, chain, _) => trusted(certificate, chain);
            o.HandshakeTimeout = tls.HandshakeTimeout;
        });
    }
}
