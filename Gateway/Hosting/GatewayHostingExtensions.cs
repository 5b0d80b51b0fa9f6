using Orleans.Coordinator.Grains.Interfaces.Tenants;
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Coordinator.Apis;
using Orleans.Coordinator.Envoy;
using Orleans.Coordinator.Resilience;
using Scalar.AspNetCore;
using Orleans.Coordinator.Tenants;
using Orleans.Coordinator.Grains.Interfaces.Configuration;

namespace Orleans.Coordinator.Hosting;

/// <summary>How this gateway reaches its grains.</summary>
public enum GatewayMode
{
    /// <summary>An in-process silo with in-memory state.</summary>
    Embedded,

    /// <summary>An Orleans client of a Redis-backed cluster.</summary>
    Cluster,
}

/// <summary>What the gateway decided at startup, for the startup log and <c>/readyz</c>.</summary>
public sealed record GatewayStartupInfo(GatewayMode Mode, string AuthDescription, string Listening, string RateLimitDescription);

/// <summary>Composition of the Gateway host.</summary>
public static partial class GatewayHostingExtensions
{
    /// <summary>
    /// Adds everything the gateway serves. Cluster mode when <c>Redis:ConnectionString</c> is set,
    /// embedded mode otherwise.
    /// </summary>
    public static WebApplicationBuilder AddCoordinatorGateway(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddValidatedOptions<CoordinatorRedisOptions>(CoordinatorRedisOptions.SectionName);
        services.AddValidatedOptions<CoordinatorClusterOptions>(CoordinatorClusterOptions.SectionName);
        services.AddValidatedOptions<MappingOptions>(MappingOptions.SectionName);
        services.AddValidatedOptions<CacheOptions>(CacheOptions.SectionName);
        services.AddValidatedOptions<CoordinatorGatewayOptions>(CoordinatorGatewayOptions.SectionName);
        services.TryAddSingleton(TimeProvider.System);
        services.AddValidatedOptions<LeaseOptions>(LeaseOptions.SectionName);
        services.AddValidatedOptions<ResilienceOptions>(ResilienceOptions.SectionName);
        services.AddSingleton<TenantCache>();
        services.AddSingleton(sp => new RateLimitCoalescer(sp.GetRequiredService<IGrainFactory>()));
        services.AddSingleton<RateLimitChecker>();
        services.AddSingleton<ResilientUsers>();
        services.AddSingleton<ResilientTokens>();
        services.AddSingleton<MappingResolver>();
        services.AddSingleton<RouteCache>();
        services.AddSingleton<ResponseCacheCopies>();
        services.AddSingleton<Tenants.DocumentCopies>();
        services.AddHostedService<ResponseCacheHitReporter>();
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, Apis.DataPlaneJson.Default));
        services.AddSingleton(builder.Configuration.GetSection("Security").Get<ReplayGuardSettings>() ?? new ReplayGuardSettings());
        services.AddOptions<ExtAuthzOptions>().BindConfiguration(ExtAuthzOptions.SectionName);

        services.AddProblemDetails(o => o.CustomizeProblemDetails = context =>
            context.ProblemDetails.Extensions["traceId"] = Activity.Current?.Id ?? context.HttpContext.TraceIdentifier);
        services.AddExceptionHandler<ExceptionProblemHandler>();
        // Body binding failures throw, so the exception handler can name the bad field.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            HealthOpenApi.Describe(document);
            return Task.CompletedTask;
        }));
        services.AddGrpc(o => o.Interceptors.Add<GrpcErrorInterceptor>());
        services.AddGrpcReflection(); // grpcurl works without proto files
        // The standard grpc.health.v1.Health service on the gRPC port, run on each Check: NOT_SERVING while this gateway
        // cannot decide rate limits (the fleet's domains not received yet, or neither the cluster nor Redis answers),
        // for the whole server ("") and for envoy.service.ratelimit.v3.RateLimitService. /readyz stays the full report.
        services.AddGrpcHealthChecks(o =>
            {
                o.Services.Map("", r => r.Tags.Contains("ratelimit"));
                o.Services.Map("envoy.service.ratelimit.v3.RateLimitService", r => r.Tags.Contains("ratelimit"));
            })
            .AddCheck<RateLimitDecisionsHealthCheck>("ratelimit-decisions", tags: ["ratelimit"]);
        services.AddReadinessGauges();
        services.AddSingleton<RateLimitDecisionsHealthCheck>(); // one instance: it reuses its last probe for 1 s
        builder.AddCoordinatorTelemetry("orleans-coordinator-gateway");
        // While no silo is reachable, the Orleans client warns once per message it cannot send: a log line per request
        // at the very moment the gateway must answer fast from the fallback. The breaker's own line says it once.
        builder.Logging.AddFilter("Orleans.Messaging.ClientMessageCenter", LogLevel.Error);

        var gateway = builder.Configuration.GetSection(CoordinatorGatewayOptions.SectionName).Get<CoordinatorGatewayOptions>() ?? new();
        var listening = GatewayEndpoints.Configure(builder, gateway.GrpcPort);
        // RateLimit:ConfigPath (a file or a directory, reloaded live); RateLimit:ConfigFile is its older name.
        var rateLimitPath = builder.Configuration["RateLimit:ConfigPath"] is { Length: > 0 } configured ? configured : builder.Configuration["RateLimit:ConfigFile"];
        if (!bool.TryParse(builder.Configuration["RateLimit:ShadowMode"] ?? "false", out var shadowMode))
        {
            throw new EnvoyConfigException("RateLimit:ShadowMode must be true or false.");
        }

        if (!bool.TryParse(builder.Configuration["RateLimit:ResponseHeaders"] ?? "false", out var responseHeaders))
        {
            throw new EnvoyConfigException("RateLimit:ResponseHeaders must be true or false.");
        }

        if (!double.TryParse(builder.Configuration["RateLimit:NearLimitRatio"] ?? "0.8", System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var nearLimitRatio)
            || nearLimitRatio is <= 0 or > 1)
        {
            throw new EnvoyConfigException("RateLimit:NearLimitRatio must be a number above 0 and at most 1 (default 0.8).");
        }

        var rules = new EnvoyRateLimitRules(rateLimitPath, shadowMode, responseHeaders: responseHeaders, nearLimitRatio: nearLimitRatio);
        services.AddSingleton(sp => rules.UseLogger(sp.GetRequiredService<ILogger<EnvoyRateLimitRules>>()));
        services.AddSingleton<IRateLimitRulesReport>(sp => sp.GetRequiredService<EnvoyRateLimitRules>());
        services.AddHostedService<EnvoyRateLimitRulesWatcher>();
        services.AddSingleton<RateLimitDomainsWatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<RateLimitDomainsWatcher>());
        var envoyConfig = rules.Current;

        var redis = builder.Configuration.GetSection(CoordinatorRedisOptions.SectionName).Get<CoordinatorRedisOptions>() ?? new();
        GatewayMode mode;
        string auth;
        if (redis.IsConfigured)
        {
            mode = GatewayMode.Cluster;
            builder.AddClusterClient(redis);
            services.AddSingleton(sp => new ClusterReachability(sp.GetRequiredService<IGrainFactory>(),
                sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<ResilienceOptions>>().Value.SlowCallTimeout / 2));
            services.AddSingleton(sp => ActivatorUtilities.CreateInstance<ResilienceState>(sp, true, sp.GetRequiredService<ClusterReachability>()));
            services.AddSingleton<IResilienceReport>(sp => sp.GetRequiredService<ResilienceState>());
            services.AddSingleton<FallbackStore>();
            services.AddHostedService<RecoveryProbe>();
            services.AddHostedService<GatewayWarmup>();
            services.AddHostedService<RouteChangeFeed>();
            auth = builder.AddCoordinatorAuthentication(allowAnonymousWithoutTokens: false, "a cluster-mode gateway");
        }
        else
        {
            mode = GatewayMode.Embedded;
            builder.AddEmbeddedSilo();
            services.AddSingleton(sp => ActivatorUtilities.CreateInstance<ResilienceState>(sp, false));
            services.AddReadinessCheck<ClusterReadinessCheck>("cluster");
            auth = builder.AddCoordinatorAuthentication(
                allowAnonymousWithoutTokens: ListensOnLoopbackOnly(builder.Configuration["urls"] ?? GatewayEndpoints.DefaultUrls),
                "an embedded gateway listening beyond loopback");
        }

        services.AddSingleton(new GatewayStartupInfo(mode, auth, listening, envoyConfig.Domains.Count == 0
            ? "Envoy rate-limit service: no RateLimit:ConfigPath, every descriptor answers OK."
            : $"Envoy rate-limit service: domains {string.Join(", ", envoyConfig.Domains)} from {rateLimitPath} (reloaded when it changes){(shadowMode ? ", every rule in shadow mode" : "")}."));
        services.AddHostedService<StartupBanner>();
        return builder;
    }

    /// <summary>Maps the middleware and every endpoint.</summary>
    public static WebApplication MapCoordinatorGateway(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var info = app.Services.GetRequiredService<GatewayStartupInfo>();
        app.UseExceptionHandler();
        app.UseStatusCodePages(context => ProblemResponses.WriteAsync(context.HttpContext, ProblemResponses.ForStatusCode(context.HttpContext.Response.StatusCode)));
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapOpenApi().AllowAnonymous();
        // An interactive API reference over the OpenAPI document at /docs/ (Scalar; its script is served by the gateway
        // itself, no CDN). Anonymous like the document: it shows the API, and every call it sends needs a token.
        app.MapScalarApiReference("/docs", o => o.WithTitle("Orleans.Coordinator API").WithOpenApiRoutePattern("/openapi/{documentName}.json").ExpandAllTags().DisableDefaultFonts())
            .AllowAnonymous().ExcludeFromDescription();
        app.MapCoordinatorMetrics();
        app.MapCoordinatorHealth(info.Mode == GatewayMode.Embedded ? "embedded" : "cluster");
        app.MapUsersApi();
        app.MapMappingsApi();
        app.MapTenantsApi();
        app.MapCachesApi();
        app.MapApprovalsApi();
        app.MapAgentTasksApi();
        app.MapDocumentsApi();
        app.MapEventsApi();
        app.MapWebhooksApi();
        app.MapRateLimitApi();
        app.MapIdentityApi();
        app.MapLocksApi();
        app.MapInstancesApi();
        app.MapGrpcService<EnvoyRateLimitService>();
        app.MapGrpcService<ExtAuthzService>();
        app.MapGrpcHealthChecksService().AllowAnonymous();
        app.MapGrpcReflectionService().AllowAnonymous(); // the services' schemas only; calling them still needs a token
        app.MapEnvoyJsonApi();
        app.MapRateLimitDomainsApi();
        if (info.Mode == GatewayMode.Embedded)
        {
            app.MapEmbeddedDashboard();
        }

        return app;
    }

    /// <summary>True when every configured URL binds a loopback address (the default does).</summary>
    internal static bool ListensOnLoopbackOnly(string? urls)
    {
        if (string.IsNullOrWhiteSpace(urls))
        {
            return true;
        }

        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var hostStart = url.IndexOf("://", StringComparison.Ordinal);
            var rest = hostStart < 0 ? url : url[(hostStart + 3)..];
            var host = rest.StartsWith('[') ? rest[..(rest.IndexOf(']') + 1)] : rest.Split(':', '/')[0];
            var loopback = host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
                           || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
            if (!loopback)
            {
                return false;
            }
        }

        return true;
    }

    private sealed partial class StartupBanner(GatewayStartupInfo info, ILogger<StartupBanner> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (info.Mode == GatewayMode.Embedded)
            {
                LogEmbedded(logger);
            }
            else
            {
                LogCluster(logger);
            }

            LogAuth(logger, info.AuthDescription);
            LogInfo(logger, info.Listening);
            LogInfo(logger, info.RateLimitDescription);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(Level = LogLevel.Warning, Message = "Embedded mode: state is kept in memory only and is lost when this process stops. Set Redis__ConnectionString to run against a cluster.")]
        private static partial void LogEmbedded(ILogger logger);

        [LoggerMessage(Level = LogLevel.Information, Message = "Cluster mode: grains are reached through Redis membership.")]
        private static partial void LogCluster(ILogger logger);

        [LoggerMessage(Level = LogLevel.Warning, Message = "{Auth}")]
        private static partial void LogAuth(ILogger logger, string auth);

        [LoggerMessage(Level = LogLevel.Information, Message = "{Message}")]
        private static partial void LogInfo(ILogger logger, string message);
    }
}
