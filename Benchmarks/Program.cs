using System.Globalization;
using Orleans.Coordinator.Benchmarks.Harness;
using Orleans.Coordinator.Benchmarks.Scenarios;

// dotnet run -c Release --project Benchmarks -- --scenario <ratelimit|leases|mappings|cache|memory|all> [--duration 6] [--rounds 3] [--users 100000,1000000]
// For profiling one path: [--only orleans-client,gateway-http] (the baseline always runs) [--shape 64x10000].
// Everything runs on 127.0.0.1; processes the scenario starts are stopped when it ends. Results go to
// Benchmarks/results/latest.json (one row per scenario/path/in-flight/keys) and latest.md.
var scenario = Arg("--scenario", "all");
var duration = TimeSpan.FromSeconds(double.Parse(Arg("--duration", "6"), CultureInfo.InvariantCulture));
var rounds = int.Parse(Arg("--rounds", "3"), CultureInfo.InvariantCulture);
var users = Arg("--users", "100000,1000000").Split(',').Select(u => int.Parse(u, CultureInfo.InvariantCulture)).ToList();
BenchFilter.Paths = Arg("--only", "").Split(',', StringSplitOptions.RemoveEmptyEntries);
BenchFilter.Shapes = Arg("--shape", "").Split(',', StringSplitOptions.RemoveEmptyEntries);
string[] known = ["ratelimit", "leases", "mappings", "cache", "memory", "tls", "all"];
if (!known.Contains(scenario))
{
    Console.Error.WriteLine($"Unknown scenario '{scenario}'. Available: {string.Join(", ", known)}.");
    return 2;
}

var rows = new List<ResultRow>();
var memory = new List<Dictionary<string, object>>();
Console.WriteLine(Report.Header);
if (scenario is "ratelimit" or "all")
{
    rows.AddRange(await RateLimitScenario.RunAsync(duration, rounds));
    rows.AddRange(await RateLimitScenario.RunTwoSilosAsync(duration, rounds));
}

if (scenario is "leases" or "all")
{
    rows.AddRange(await LeaseScenario.RunAsync(duration, rounds));
}

if (scenario is "mappings" or "all")
{
    rows.AddRange(await MappingScenario.RunAsync(duration, rounds));
}

if (scenario is "cache" or "all")
{
    rows.AddRange(await CacheScenario.RunAsync(duration, rounds));
    memory.AddRange(CacheScenario.MeasureMemory());
}

if (scenario is "tls")
{
    rows.AddRange(await TlsScenario.RunAsync(duration, rounds));
}

if (scenario is "memory" or "all")
{
    var grains = await MemoryScenario.RunAsync(users);
    memory.AddRange(grains);
    foreach (var m in grains)
    {
        Console.WriteLine($"memory: {m["managedBytesPerGrain"]} managed bytes and {m["workingSetBytesPerGrain"]} working-set bytes per active user lease grain ({m["keys"]} grains)");
    }
}

foreach (var ratio in Report.Ratios(rows))
{
    Console.WriteLine(ratio);
}

await Report.WriteAsync(rows, memory);
return 0;

string Arg(string name, string fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : fallback;
}
