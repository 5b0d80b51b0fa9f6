using System.Text.Json;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Apis;
using Orleans.Coordinator.Envoy.Auth;
using Orleans.Coordinator.Envoy.Core;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Identity;
using Orleans.Coordinator.Grains.Interfaces.Routing;
using Orleans.Coordinator.Hosting;
using Orleans.Runtime;

namespace Orleans.Coordinator.Envoy;

/// <summary>The <c>ExtAuthz</c> configuration section: where Envoy's Check finds credentials, and what it answers.</summary>
public sealed class ExtAuthzOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "ExtAuthz";

    /// <summary>Request header carrying an API key; empty to ignore API keys.</summary>
    public string ApiKeyHeader { get; set; } = "x-api-key";

    /// <summary>Cookie carrying a session id; empty to ignore cookies.</summary>
    public string SessionCookie { get; set; } = "coordinator_session";

    /// <summary>Request header carrying a session id; empty to ignore it.</summary>
    public string SessionHeader { get; set; } = "x-session-id";

    /// <summary>When set, the request header whose value is looked up in the route mappings (destination added as a header).</summary>
    public string? RouteIdentifierHeader { get; set; }

    /// <summary>Prefix of the headers added to allowed requests.</summary>
    public string HeaderPrefix { get; set; } = "x-coordinator-";
}

/// <summary>
/// <c>envoy.service.auth.v3.Authorization/Check</c>: allows a request that carries a valid API key or a live
/// session, adding headers that name the tenant, key id or subject (and the routed destination); denies
/// others with 401, or 403 when the key lacks the scope a route asks for in its <c>required_scope</c>
/// context extension. Never guesses: when state cannot be reached it answers an UNAVAILABLE gRPC status,
/// so Envoy's <c>failure_mode_allow</c> decides.
/// </summary>
[Authorize(Policy = CoordinatorPolicies.Client)]
internal sealed partial class ExtAuthzService(IGrainFactory grains, IOptions<ExtAuthzOptions> options, IOptions<MappingOptions> mappings, ILogger<ExtAuthzService> logger)
    : Authorization.AuthorizationBase
{
    private const int GrpcOk = 0;
    private const int GrpcPermissionDenied = 7;
    private const int GrpcUnauthenticated = 16;

    public override async Task<CheckResponse> Check(CheckRequest request, ServerCallContext context)
    {
        var http = request.Attributes?.Request?.Http;
        var headers = http?.Headers ?? (IDictionary<string, string>)new Dictionary<string, string>();
        var extensions = request.Attributes?.ContextExtensions ?? (IDictionary<string, string>)new Dictionary<string, string>();
        var settings = options.Value;
        try
        {
            var apiKey = Header(headers, settings.ApiKeyHeader);
            if (apiKey is not null)
            {
                var key = await ApiKeyValidation.ValidateAsync(grains, apiKey);
                if (key is null)
                {
                    return Deny(GrpcUnauthenticated, Type.StatusCode.Unauthorized, "invalid-api-key", "The API key is not valid.");
                }

                if (extensions.TryGetValue("required_scope", out var scope) && !key.Scopes.Contains(scope, StringComparer.Ordinal))
                {
                    return Deny(GrpcPermissionDenied, Type.StatusCode.Forbidden, "insufficient-scope", $"The API key lacks the scope '{scope}'.");
                }

                return await AllowAsync(headers, settings, ("tenant", key.Tenant), ("key-id", key.KeyId), ("scopes", string.Join(' ', key.Scopes)));
            }

            var sessionId = Header(headers, settings.SessionHeader) ?? Cookie(headers, settings.SessionCookie);
            if (sessionId is not null)
            {
                var session = GrainKeys.TryOpaqueId(sessionId, "session", out var id, out _) ? await grains.Get<ISessionGrain>(id).GetAsync() : null;
                return session is null
                    ? Deny(GrpcUnauthenticated, Type.StatusCode.Unauthorized, "session-not-found", "The session is unknown or has expired.")
                    : await AllowAsync(headers, settings, ("tenant", session.Tenant), ("subject", session.Subject));
            }

            return Deny(GrpcUnauthenticated, Type.StatusCode.Unauthorized, "unauthorized", "An API key or a session is required.");
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException or CoordinatorUnavailableException)
        {
            LogUnavailable(logger, ex.GetType().Name);
            throw new RpcException(new Status(StatusCode.Unavailable, "the coordinator cluster is unavailable"));
        }
    }

    private async Task<CheckResponse> AllowAsync(IDictionary<string, string> headers, ExtAuthzOptions settings, params (string Name, string Value)[] added)
    {
        var ok = new OkHttpResponse();
        foreach (var (name, value) in added)
        {
            ok.Headers.Add(new HeaderValueOption { Header = new HeaderValue { Key = settings.HeaderPrefix + name, Value = value } });
        }

        if (!string.IsNullOrEmpty(settings.RouteIdentifierHeader)
            && Header(headers, settings.RouteIdentifierHeader) is { } identifier
            && GrainKeys.TryIdentifier(identifier, mappings.Value.Normalization, out var key, out _))
        {
            var route = await grains.Get<IRouteMappingGrain>(key).ResolveRouteAsync();
            ok.Headers.Add(new HeaderValueOption { Header = new HeaderValue { Key = settings.HeaderPrefix + "destination", Value = route.Destination } });
        }

        // Credentials stop here: the upstream sees the coordinator's headers, not the API key.
        if (!string.IsNullOrEmpty(settings.ApiKeyHeader))
        {
            ok.HeadersToRemove.Add(settings.ApiKeyHeader);
        }

        CoordinatorDiagnostics.Decision("authz", true);
        return new CheckResponse { Status = new Rpc.Status { Code = GrpcOk }, OkResponse = ok };
    }

    private static CheckResponse Deny(int grpcCode, Type.StatusCode httpStatus, string slug, string title)
    {
        var body = JsonSerializer.Serialize(new
        {
            type = ProblemResponses.TypePrefix + slug,
            title,
            status = (int)httpStatus,
        });
        CoordinatorDiagnostics.Decision("authz", false);
        var denied = new DeniedHttpResponse { Status = new Type.HttpStatus { Code = httpStatus }, Body = body };
        denied.Headers.Add(new HeaderValueOption { Header = new HeaderValue { Key = "content-type", Value = "application/problem+json" } });
        return new CheckResponse { Status = new Rpc.Status { Code = grpcCode, Message = title }, DeniedResponse = denied };
    }

    private static string? Header(IDictionary<string, string> headers, string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        foreach (var (key, value) in headers)
        {
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase) && !string.IsNullOrEmpty(value))
            {
                return value.Trim();
            }
        }

        return null;
    }

    private static string? Cookie(IDictionary<string, string> headers, string? name)
    {
        if (string.IsNullOrEmpty(name) || Header(headers, "cookie") is not { } cookie)
        {
            return null;
        }

        foreach (var part in cookie.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var pair = part.Split('=', 2);
            if (pair.Length == 2 && pair[0] == name)
            {
                return pair[1];
            }
        }

        return null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "ext_authz Check answered UNAVAILABLE: {ExceptionType}")]
    private static partial void LogUnavailable(ILogger logger, string exceptionType);
}
