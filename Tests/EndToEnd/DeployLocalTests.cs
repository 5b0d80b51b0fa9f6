using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.EndToEnd;

/// <summary>deploy/local/start.sh with N=2 silos and M=1 gateway, an API call, then deploy/local/stop.sh.</summary>
[Collection(SerialTimingCollection.Name)]
public sealed partial class DeployLocalTests(ITestOutputHelper output)
{
    [Fact(Timeout = 240_000)]
    public async Task StartScript_TwoSilosOneGateway_ServesTheApi_AndStopScriptStopsEverything()
    {
        // Arrange
        var dir = Directory.CreateTempSubdirectory("coordinator-deploy-").FullName;
        var httpPort = FreeBase();
        var env = new Dictionary<string, string>
        {
            ["DEPLOY_DIR"] = dir,
            ["CONFIGURATION"] = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name,
            ["REDIS_PORT"] = Port(),
            ["SILO_PORT_BASE"] = Port(),
            ["SILO_GATEWAY_PORT_BASE"] = Port(),
            ["SILO_HTTP_BASE"] = Port(),
            ["HTTP_PORT_BASE"] = httpPort.ToString(CultureInfo.InvariantCulture),
            ["GRPC_PORT_BASE"] = Port(),
        };

        try
        {
            // Act
            var (startCode, startOutput) = await RunAsync("deploy/local/start.sh", env, "2", "1");
            output.WriteLine(startOutput);
            Assert.True(startCode == 0, $"start.sh exited {startCode}:\n{startOutput}");
            var admin = AdminToken().Match(startOutput).Groups[1].Value;
            var client = ClientToken().Match(startOutput).Groups[1].Value;
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", admin);
            var put = await http.PutJsonAsync("/v1/mappings/alice@example.com", new { destination = "stalwart" });
            var ready = await (await http.GetAsync("/readyz", TestContext.Current.CancellationToken)).JsonAsync();
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", client);
            var got = await (await http.GetAsync("/v1/mappings/alice@example.com", TestContext.Current.CancellationToken)).JsonAsync();
            var (stopCode, stopOutput) = await RunAsync("deploy/local/stop.sh", env);

            // Assert
            Assert.Contains("Cluster ready: 2 silo(s), 1 gateway(s)", startOutput, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            Assert.Contains("2 active silo(s)", ready.GetRawText(), StringComparison.Ordinal);
            Assert.Equal("stalwart", got.GetProperty("destination").GetString());
            Assert.True(stopCode == 0, stopOutput);
            Assert.False(File.Exists(Path.Combine(dir, "pids")));
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetAsync("/healthz", TestContext.Current.CancellationToken));
        }
        finally
        {
            if (File.Exists(Path.Combine(dir, "pids")))
            {
                await RunAsync("deploy/local/stop.sh", env);
            }
        }
    }

    /// <summary>
    /// The script uses base, base+1, ... for its processes: a base below Linux's ephemeral range (32768 and up) whose
    /// next ports are free too, so no outgoing connection can take base+1 between this check and the start (seen once:
    /// "GatewayPort ... is already in use" when the base was an ephemeral port).
    /// </summary>
    private static readonly HashSet<int> Taken = [];

    private static int FreeBase(int count = 4)
    {
        var random = new Random();
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var candidate = random.Next(20_000, 32_000 - count);
            if (Enumerable.Range(candidate, count).All(p => IsFree(p) && !Taken.Contains(p)))
            {
                Taken.UnionWith(Enumerable.Range(candidate, count)); // the bases of one run never overlap
                return candidate;
            }
        }

        throw new InvalidOperationException("no run of free ports between 20000 and 32000 on 127.0.0.1");
    }

    private static bool IsFree(int port)
    {
        try
        {
            var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private static string Port() => FreeBase().ToString(CultureInfo.InvariantCulture);

    private static async Task<(int Code, string Output)> RunAsync(string script, IDictionary<string, string> env, params string[] args)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepoPaths.Root };
        start.ArgumentList.Add(RepoPaths.Combine(script.Split('/')));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in env)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    [GeneratedRegex(@"admin token:\s+(\S+)")]
    private static partial Regex AdminToken();

    [GeneratedRegex(@"client token:\s+(\S+)")]
    private static partial Regex ClientToken();
}
