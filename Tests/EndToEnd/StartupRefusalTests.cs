using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.EndToEnd;

/// <summary>
/// A wrong configuration or a taken port ends a Silo or Gateway process with exit code 2 and one line naming the
/// setting: no host stack trace before it (issue 13).
/// </summary>
public sealed class StartupRefusalTests
{
    private const string Admin = "refusal-admin-token-0123456789";

    [Fact(Timeout = 90_000)]
    public async Task SiloWithoutClusterSecrets_PrintsOneLine()
    {
        await using var redis = await RedisServer.StartAsync();

        var output = await RunToExitAsync("Silo", new() { ["Redis__ConnectionString"] = redis.ConnectionString, ["Auth__AdminTokens__0"] = Admin, ["Orleans__SiloPort"] = "0", ["Orleans__GatewayPort"] = "0" });

        Assert.StartsWith("Silo refused to start: Cluster mode needs Security:SessionKeys", output, StringComparison.Ordinal);
    }

    [Fact(Timeout = 90_000)]
    public async Task GatewayWhoseGrpcPortIsTaken_PrintsOneLineNamingTheSetting()
    {
        using var taken = Listen(out var port);

        var output = await RunToExitAsync("Gateway", new() { ["Gateway__GrpcPort"] = port.ToString(CultureInfo.InvariantCulture) });

        Assert.Equal($"Gateway refused to start: Gateway:GrpcPort: 127.0.0.1:{port} is already in use by another process; stop it or choose another port.", output);
    }

    [Fact(Timeout = 90_000)]
    public async Task SiloWhoseSiloPortIsTaken_PrintsOneLineNamingTheSetting()
    {
        await using var redis = await RedisServer.StartAsync();
        using var taken = Listen(out var port);

        var output = await RunToExitAsync("Silo", new()
        {
            ["Redis__ConnectionString"] = redis.ConnectionString,
            ["Auth__AdminTokens__0"] = Admin,
            ["Security__SessionKeys__0__Id"] = "k1",
            ["Security__SessionKeys__0__Key"] = TestSecrets.NewSessionKey,
            ["Security__ApiKeyHmacSecret"] = TestSecrets.HmacSecret,
            ["Orleans__SiloPort"] = port.ToString(CultureInfo.InvariantCulture),
            ["Orleans__GatewayPort"] = "0",
        });

        Assert.StartsWith($"Silo refused to start: Orleans:SiloPort: 127.0.0.1:{port} is already in use", output, StringComparison.Ordinal);
    }

    [Theory(Timeout = 90_000)]
    [InlineData("Gateway")]
    [InlineData("Silo")]
    public async Task RedisThatCannotBeReached_PrintsOneLine(string project)
    {
        var output = await RunToExitAsync(project, new()
        {
            ["Redis__ConnectionString"] = $"127.0.0.1:{RedisServer.FreePort()}",
            ["Auth__AdminTokens__0"] = Admin,
            ["Security__SessionKeys__0__Id"] = "k1",
            ["Security__SessionKeys__0__Key"] = TestSecrets.NewSessionKey,
            ["Security__ApiKeyHmacSecret"] = TestSecrets.HmacSecret,
            ["Orleans__SiloPort"] = "0",
            ["Orleans__GatewayPort"] = "0",
        });

        Assert.StartsWith($"{project} refused to start: Redis at 127.0.0.1:", output, StringComparison.Ordinal);
        Assert.Contains("cannot be reached", output, StringComparison.Ordinal);
    }

    /// <summary>Runs the process until it exits by itself; asserts exit code 2 and a single line without a stack trace.</summary>
    private static async Task<string> RunToExitAsync(string project, Dictionary<string, string> environment)
    {
        await using var process = CoordinatorProcess.Start(project, RedisServer.FreePort(), environment);
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        var lines = process.Output.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);

        Assert.True(exitCode == 2, $"{project} exited with {exitCode}:{Environment.NewLine}{process.Output}");
        Assert.True(lines.Length == 1, $"{project} printed {lines.Length} lines, not one:{Environment.NewLine}{process.Output}");
        Assert.DoesNotContain("   at ", process.Output, StringComparison.Ordinal);
        return lines[0];
    }

    private static TcpListener Listen(out int port)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        port = ((IPEndPoint)listener.LocalEndpoint).Port;
        return listener;
    }
}
