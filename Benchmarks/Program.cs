using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Runtime;

// dotnet run -c Release --project Benchmarks -- --scenario memory --users 100000
// Scenarios so far: memory (silo managed heap and working set per active user lease grain, and what comes
// back after the grains are deactivated). Throughput scenarios against the Redis-script baseline come next.
var scenario = Arg("--scenario", "memory");
var users = int.Parse(Arg("--users", "100000"), CultureInfo.InvariantCulture);
if (scenario is not ("memory" or "all"))
{
    Console.Error.WriteLine($"Unknown scenario '{scenario}'. Available: memory, all.");
    return 2;
}

var builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.UseOrleans(silo => silo.UseLocalhostClustering(siloPort: FreePort(), gatewayPort: 0).AddCoordinator());
using var host = builder.Build();
await host.StartAsync();
var grains = host.Services.GetRequiredService<IGrainFactory>();

// Warm up the runtime and code paths, then take the baseline.
await ActivateAsync(grains, "warmup", 1_000);
await grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
var before = Measure();

var timer = Stopwatch.StartNew();
await ActivateAsync(grains, "user", users);
timer.Stop();
var loaded = Measure();
var activations = await grains.GetGrain<IManagementGrain>(0).GetTotalActivationCount();

await grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
var after = Measure();

var row = new Dictionary<string, object>
{
    ["scenario"] = "memory",
    ["path"] = "in-process silo, user lease grain with one lease (in-memory storage)",
    ["keys"] = users,
    ["activations"] = activations,
    ["managedBytesPerGrain"] = (loaded.Managed - before.Managed) / users,
    ["workingSetBytesPerGrain"] = (loaded.WorkingSet - before.WorkingSet) / users,
    ["managedBytesAfterDeactivation"] = after.Managed - before.Managed,
    ["activationSeconds"] = Math.Round(timer.Elapsed.TotalSeconds, 2),
    ["cores"] = Environment.ProcessorCount,
};
var results = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "results");
Directory.CreateDirectory(results);
await File.WriteAllTextAsync(Path.Combine(results, "latest.json"), JsonSerializer.Serialize(new[] { row }, new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine("| scenario | keys | managed bytes per grain | working set bytes per grain | managed bytes left after deactivation | cores |");
Console.WriteLine("|---|---|---|---|---|---|");
Console.WriteLine($"| memory | {users} | {row["managedBytesPerGrain"]} | {row["workingSetBytesPerGrain"]} | {row["managedBytesAfterDeactivation"]} | {row["cores"]} |");
await host.StopAsync();
return 0;

static async Task ActivateAsync(IGrainFactory grains, string prefix, int count)
{
    for (var start = 0; start < count; start += 1_000)
    {
        await Task.WhenAll(Enumerable.Range(start, Math.Min(1_000, count - start))
            .Select(i => grains.GetGrain<IUserLeaseGrain>($"{prefix}-{i}").TryAcquireLeaseAsync(new LeaseAcquireRequest("bench", 3_600_000))));
    }
}

static (long Managed, long WorkingSet) Measure()
{
    for (var i = 0; i < 3; i++)
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
    }

    using var process = Process.GetCurrentProcess();
    return (GC.GetTotalMemory(forceFullCollection: true), process.WorkingSet64);
}

static int FreePort()
{
    using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
    listener.Start();
    return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
}

string Arg(string name, string fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : fallback;
}
