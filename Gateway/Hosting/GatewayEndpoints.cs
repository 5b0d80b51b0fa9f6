using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Orleans.Coordinator.Hosting;

/// <summary>
/// Binds the HTTP API on <c>urls</c> (as any ASP.NET Core app, default <c>http://127.0.0.1:5080</c>) and the
/// h2c gRPC endpoint on <c>Gateway:GrpcPort</c> at the same host. Kestrel ignores <c>urls</c> once any
/// endpoint is configured in code, so both are bound here (its "Overriding address(es)" warning is therefore
/// expected; appsettings.json sets the Kestrel category to Error so it does not alarm operators).
/// </summary>
internal static class GatewayEndpoints
{
    public const string DefaultUrls = "http://127.0.0.1:5080";

    /// <summary>Configures Kestrel; returns a description of what is bound, for the startup log.</summary>
    public static string Configure(WebApplicationBuilder builder, int grpcPort)
    {
        var urls = builder.Configuration["urls"];
        var endpoints = Parse(string.IsNullOrWhiteSpace(urls) ? DefaultUrls : urls);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (var (host, port) in endpoints)
            {
                Listen(kestrel, host, port, HttpProtocols.Http1AndHttp2);
            }

            if (grpcPort >= 0)
            {
                foreach (var host in endpoints.Select(e => e.Host).Distinct(StringComparer.OrdinalIgnoreCase))
                {
                    Listen(kestrel, host, grpcPort, HttpProtocols.Http2);
                }
            }
        });

        var grpc = grpcPort < 0 ? "gRPC off (Gateway:GrpcPort=-1)" : $"gRPC (h2c) on port {grpcPort}";
        return $"HTTP on {string.Join(", ", endpoints.Select(e => $"{e.Host}:{e.Port}"))}; {grpc}.";
    }

    /// <summary>Every address the gateway will listen on, with the setting that names it (for <see cref="StartupPreflight"/>).</summary>
    public static IEnumerable<(string Setting, string Host, int Port)> Listens(IConfiguration configuration)
    {
        var urls = configuration["urls"];
        var endpoints = Parse(string.IsNullOrWhiteSpace(urls) ? DefaultUrls : urls);
        var grpcPort = configuration.GetSection(CoordinatorGatewayOptions.SectionName).Get<CoordinatorGatewayOptions>()?.GrpcPort ?? new CoordinatorGatewayOptions().GrpcPort;
        foreach (var (host, port) in endpoints)
        {
            yield return ("urls", host, port);
        }

        if (grpcPort > 0)
        {
            foreach (var host in endpoints.Select(e => e.Host).Distinct(StringComparer.OrdinalIgnoreCase))
            {
                yield return ("Gateway:GrpcPort", host, grpcPort);
            }
        }
    }

    /// <summary>Reads <c>http://host:port</c> entries separated by <c>;</c>.</summary>
    internal static List<(string Host, int Port)> Parse(string urls)
    {
        var endpoints = new List<(string Host, int Port)>();
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!url.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"urls entry '{url}' is not an http:// URL: terminate TLS in front of the gateway.");
            }

            var rest = url["http://".Length..].TrimEnd('/');
            var colon = rest.LastIndexOf(':');
            if (colon <= 0 || rest.EndsWith(']') || !int.TryParse(rest[(colon + 1)..], out var port) || port is < 0 or > 65535)
            {
                throw new InvalidOperationException($"urls entry '{url}' needs a port, e.g. http://127.0.0.1:5080.");
            }

            endpoints.Add((rest[..colon], port));
        }

        return endpoints.Count > 0 ? endpoints : throw new InvalidOperationException("urls names no address.");
    }

    private static void Listen(KestrelServerOptions kestrel, string host, int port, HttpProtocols protocols)
    {
        void Configure(ListenOptions listen) => listen.Protocols = protocols;

        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            kestrel.ListenLocalhost(port, Configure);
        }
        else if (host is "*" or "+" or "0.0.0.0")
        {
            kestrel.ListenAnyIP(port, Configure);
        }
        else if (IPAddress.TryParse(host.Trim('[', ']'), out var address))
        {
            kestrel.Listen(address, port, Configure);
        }
        else
        {
            throw new InvalidOperationException($"urls host '{host}' must be an IP address, localhost or *.");
        }
    }
}
