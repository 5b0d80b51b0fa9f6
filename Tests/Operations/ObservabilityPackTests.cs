using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Operations;

/// <summary>
/// deploy/observability: the alert rules checked and unit-tested by Debian's <c>promtool</c>, the Grafana dashboard's
/// queries, and a real Prometheus (Debian's <c>prometheus</c>, installed by <c>./test.sh</c>) scraping a real gateway and
/// silo, read back through its HTTP API.
/// </summary>
public sealed class ObservabilityPackTests(ITestOutputHelper output)
{
    private const string Promtool = "/usr/bin/promtool";
    private const string Prometheus = "/usr/bin/prometheus";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Pack => RepoPaths.Combine("deploy", "observability");

    [Fact(Timeout = 60_000)]
    public async Task AlertRules_PassPromtoolCheck_AndTheirUnitTests()
    {
        Assert.True(File.Exists(Promtool), $"{Promtool} is missing: install Debian's prometheus package (./test.sh does: apt-get install -y prometheus).");

        var check = await RunAsync(Promtool, Pack, "check", "rules", "alerts.yaml");
        var unit = await RunAsync(Promtool, Pack, "test", "rules", "alerts.test.yaml");
        var config = await RunAsync(Promtool, Pack, "check", "config", "prometheus.yml");

        Assert.True(check.Code == 0, $"promtool check rules: {check.Output}");
        Assert.Contains("SUCCESS: 7 rules found", check.Output, StringComparison.Ordinal);
        Assert.True(unit.Code == 0, $"promtool test rules: {unit.Output}");
        Assert.True(config.Code == 0, $"promtool check config: {config.Output}");
        // Every alert has a unit test.
        var alerts = File.ReadAllLines(Path.Combine(Pack, "alerts.yaml")).Select(l => l.Trim()).Where(l => l.StartsWith("- alert: ", StringComparison.Ordinal)).Select(l => l[9..]).ToList();
        var tested = File.ReadAllText(Path.Combine(Pack, "alerts.test.yaml"));
        Assert.All(alerts, a => Assert.Contains($"alertname: {a}", tested, StringComparison.Ordinal));
    }

    [Fact]
    public void Dashboard_IsGrafanaJson_WithAQueryPerPanel()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(Pack, "grafana-dashboard.json")));
        var panels = dashboard.RootElement.GetProperty("panels").EnumerateArray().ToList();

        Assert.Equal("orleans-coordinator", dashboard.RootElement.GetProperty("uid").GetString());
        Assert.True(panels.Count >= 12, $"{panels.Count} panels");
        Assert.All(panels, p => Assert.Contains(p.GetProperty("targets").EnumerateArray(), t => !string.IsNullOrWhiteSpace(t.GetProperty("expr").GetString())));
        Assert.Equal(panels.Count, panels.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());
    }

    [Fact(Timeout = 240_000)]
    public async Task RealPrometheus_ScrapesAGatewayAndASilo_AndAnswersProductSeries()
    {
        Assert.True(File.Exists(Prometheus), $"{Prometheus} is missing: install Debian's prometheus package (./test.sh does: apt-get install -y prometheus).");
        await using var cluster = await ProcessCluster.StartAsync("obs", silos: 1);
        Assert.Equal(System.Net.HttpStatusCode.Created, (await cluster.Http.PostJsonAsync($"/v1/users/{TestKeys.User("obs")}/connections", new { instanceId = "p1" })).StatusCode);

        var dir = Directory.CreateTempSubdirectory("prometheus-");
        var port = RedisServer.FreePort();
        File.Copy(Path.Combine(Pack, "alerts.yaml"), Path.Combine(dir.FullName, "alerts.yaml"));
        await File.WriteAllTextAsync(Path.Combine(dir.FullName, "prometheus.yml"), $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
              - alerts.yaml
            scrape_configs:
              - job_name: coordinator-gateways
                static_configs:
                  - targets: ["{cluster.Gateway.BaseAddress!.Authority}"]
              - job_name: coordinator-silos
                static_configs:
                  - targets: ["{cluster.Silos[0].BaseAddress!.Authority}"]
            """, Ct);
        var start = new ProcessStartInfo(Prometheus) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[]
        {
            $"--config.file={Path.Combine(dir.FullName, "prometheus.yml")}", $"--storage.tsdb.path={Path.Combine(dir.FullName, "data")}",
            $"--web.listen-address=127.0.0.1:{port}",
        })
        {
            start.ArgumentList.Add(argument);
        }

        using var prometheus = Process.Start(start)!;
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        prometheus.ErrorDataReceived += (_, e) => log.Enqueue(e.Data ?? "");
        prometheus.OutputDataReceived += (_, e) => log.Enqueue(e.Data ?? "");
        prometheus.BeginErrorReadLine();
        prometheus.BeginOutputReadLine();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            await Wait.UntilAsync(async () => (await http.GetAsync("/-/ready", Ct)).IsSuccessStatusCode, TimeSpan.FromSeconds(60),
                $"Prometheus to be ready on 127.0.0.1:{port}");

            // Product series from both processes, as Prometheus stored them.
            var ready = await QueryUntilAsync(http, "coordinator_ready", r => r.Count == 2 && r.All(s => s.Value == "1"), "coordinator_ready = 1 for the gateway and the silo");
            var silos = await QueryUntilAsync(http, "coordinator_cluster_silos", r => r.Count == 1 && r[0].Value == "1", "coordinator_cluster_silos = 1 from the silo");
            var breakers = await QueryUntilAsync(http, "coordinator_breaker_state", r => r.Count == 2 && r.All(s => s.Value == "0"), "both of the gateway's breakers closed (0)");
            var decisions = await QueryUntilAsync(http, "sum(coordinator_decisions_total{feature=\"leases\"})", r => r.Count == 1 && double.Parse(r[0].Value, CultureInfo.InvariantCulture) >= 1,
                "the lease decision counted on the gateway");
            using var rules = JsonDocument.Parse(await http.GetStringAsync("/api/v1/rules", Ct));
            var loaded = rules.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray().SelectMany(g => g.GetProperty("rules").EnumerateArray()).Count();

            Assert.Equal(["coordinator-gateways", "coordinator-silos"], ready.Select(s => s.Job).Order(StringComparer.Ordinal));
            Assert.Equal("coordinator-silos", silos[0].Job);
            Assert.All(breakers, s => Assert.Equal("coordinator-gateways", s.Job));
            Assert.Single(decisions);
            Assert.Equal(7, loaded);
        }
        catch (Exception) when (Dump(log))
        {
            throw;
        }
        finally
        {
            prometheus.Kill(entireProcessTree: true);
            await prometheus.WaitForExitAsync(CancellationToken.None);
            dir.Delete(recursive: true);
        }
    }

    private bool Dump(System.Collections.Concurrent.ConcurrentQueue<string> log)
    {
        output.WriteLine(string.Join(Environment.NewLine, log.TakeLast(40)));
        return false;
    }

    private sealed record Sample(string Job, string Value);

    /// <summary>Queries Prometheus's HTTP API until <paramref name="done"/> holds for the instant vector (bounded: 60 s).</summary>
    private static async Task<List<Sample>> QueryUntilAsync(HttpClient http, string query, Func<List<Sample>, bool> done, string what)
    {
        var samples = new List<Sample>();
        await Wait.UntilAsync(async () =>
        {
            using var answer = JsonDocument.Parse(await http.GetStringAsync($"/api/v1/query?query={Uri.EscapeDataString(query)}", Ct));
            samples = [.. answer.RootElement.GetProperty("data").GetProperty("result").EnumerateArray().Select(r => new Sample(
                r.GetProperty("metric").TryGetProperty("job", out var job) ? job.GetString()! : "",
                r.GetProperty("value")[1].GetString()!))];
            return done(samples);
        }, TimeSpan.FromSeconds(60), $"Prometheus to answer {query}: {what}");
        return samples;
    }

    private static async Task<(int Code, string Output)> RunAsync(string program, string workingDirectory, params string[] arguments)
    {
        var result = await ExternalProgram.RunAsync(program, arguments, TimeSpan.FromSeconds(30), workingDirectory);
        return (result.Code, result.All);
    }
}
