using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Coordinator.Hosting;

namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>
/// A real Gateway (the same composition as its Program.cs) served by Kestrel on a free loopback port,
/// so API tests go over real HTTP.
/// </summary>
public sealed class GatewayHost : IAsyncDisposable
{
    public const string AdminToken = "admin-token-for-tests-0123456789";
    public const string ClientToken = "client-token-for-tests-0123456789";

    private GatewayHost(WebApplication app, Uri baseAddress, Uri? grpcAddress)
    {
        App = app;
        BaseAddress = baseAddress;
        GrpcAddress = grpcAddress;
    }

    /// <summary>The h2c gRPC endpoint, when the settings gave <c>Gateway:GrpcPort</c>.</summary>
    public Uri? GrpcAddress { get; }

    public WebApplication App { get; }

    public Uri BaseAddress { get; }

    public IServiceProvider Services => App.Services;

    /// <summary>Builds the gateway with <paramref name="settings"/> layered over its defaults and starts it.</summary>
    public static async Task<GatewayHost> StartAsync(IDictionary<string, string?>? settings = null)
    {
        var app = Build(settings);
        await app.StartAsync();
        var grpcPort = settings is not null && settings.TryGetValue("Gateway:GrpcPort", out var g) && int.TryParse(g, out var p) ? p : -1;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(a => new Uri(a)).ToList();
        var http = addresses.First(a => a.Port != grpcPort);
        return new GatewayHost(app, http, grpcPort > 0 ? new Uri($"http://127.0.0.1:{grpcPort}") : null);
    }

    /// <summary>Builds without starting (to test refusals at startup).</summary>
    public static WebApplication Build(IDictionary<string, string?>? settings = null)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["urls"] = "http://127.0.0.1:0",
            ["Gateway:GrpcPort"] = "-1",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Orleans"] = "Warning",
            ["Logging:LogLevel:Polly"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(Program).Assembly.GetName().Name,
            EnvironmentName = "Production",
        });
        builder.Configuration.AddInMemoryCollection(values);
        builder.AddCoordinatorGateway();
        var app = builder.Build();
        app.MapCoordinatorGateway();
        return app;
    }

    /// <summary>An HTTP client for this gateway, with <paramref name="token"/> as bearer when given.</summary>
    public HttpClient CreateClient(string? token = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await App.StopAsync();
        }
        finally
        {
            await App.DisposeAsync();
        }
    }
}
