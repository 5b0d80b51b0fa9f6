using System.Text.Json;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Operations;

/// <summary>JSON logs on request, quiet by default, no secrets.</summary>
[Collection(SerialTimingCollection.Name)]
public sealed class JsonLogTests
{
    [Fact(Timeout = 120_000)]
    public async Task GatewayProcess_JsonFormatter_WritesOneJsonObjectPerLine_WithoutSecrets()
    {
        const string admin = "json-log-admin-token-0123456789";
        await using (var gateway = CoordinatorProcess.Start("Gateway", RedisServer.FreePort(), new Dictionary<string, string>
        {
            ["Logging__Console__FormatterName"] = "json",
            ["Auth__AdminTokens__0"] = admin,
            ["Gateway__GrpcPort"] = "-1",
        }))
        {
            await gateway.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
            var lines = gateway.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

            Assert.NotEmpty(lines);
            foreach (var line in lines.Where(l => l.StartsWith('{')))
            {
                using var entry = JsonDocument.Parse(line);
                Assert.True(entry.RootElement.TryGetProperty("Category", out _), line);
            }

            Assert.Contains(lines, l => l.Contains("Embedded mode", StringComparison.Ordinal));
            Assert.DoesNotContain(lines, l => l.Contains(admin, StringComparison.Ordinal));
            // Quiet by default: no per-placement Polly lines, no Orleans information chatter.
            Assert.DoesNotContain(lines, l => l.Contains("\"Category\":\"Polly", StringComparison.Ordinal));
            Assert.DoesNotContain(lines, l => l.Contains("\"LogLevel\":\"Information\",\"Category\":\"Orleans.Runtime", StringComparison.Ordinal));
        }
    }
}
