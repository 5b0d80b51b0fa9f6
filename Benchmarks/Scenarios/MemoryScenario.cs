using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Coordinator.Benchmarks.Harness;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Runtime;

namespace Orleans.Coordinator.Benchmarks.Scenarios;

/// <summary>
/// Silo managed heap and working set per active user lease grain holding one lease, and what comes back after
/// deactivation. The silo runs in this process with its grain state in a redis-server of its own (as in
/// production: the state's stored copy is not in the silo's memory), so the figures are the grains' own.
/// </summary>
public static class MemoryScenario
{
    /// <summary>
    /// Users whose leases come from one gateway instance (1,000,000 users are 1,000 instances): each instance's lease
    /// index (16 persisted buckets) then holds what one gateway would, rather than every user of the run.
    /// </summary>
    private const int UsersPerInstance = 1_000;

    public static async Task<IReadOnlyList<Dictionary<string, object>>> RunAsync(IReadOnlyList<int> sizes)
    {
        await using var redis = await ChildProcess.StartRedisAsync();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Redis:ConnectionString"] = redis.Connection,
            ["Security:SessionKeys:0:Id"] = "k1",
            ["Security:SessionKeys:0:Key"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["Security:ApiKeyHmacSecret"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        });
        builder.UseOrleans(silo => silo.UseLocalhostClustering(siloPort: ChildProcess.FreePort(), gatewayPort: 0).AddCoordinator(useRedisClustering: false));

        // Collecting 1,000,000 activations in one management call can outlast Orleans' 30 s default.
        builder.Services.Configure<SiloMessagingOptions>(o => (o.ResponseTimeout, o.SystemResponseTimeout) = (TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10)));
        using var host = builder.Build();
        await host.StartAsync();
        var grains = host.Services.GetRequiredService<IGrainFactory>();

        // Warm up the runtime and code paths, then take the baseline.
        await ActivateAsync(grains, "warmup", 0, 1_000);
        await grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var before = Measure();

        // Grow in steps (100,000 then 1,000,000 by default), measuring at each, then deactivate everything.
        var rows = new List<Dictionary<string, object>>();
        var (active, timer) = (0, Stopwatch.StartNew());
        foreach (var size in sizes.Order())
        {
            await ActivateAsync(grains, "user", active, size);
            active = size;
            var loaded = Measure();
            rows.Add(new Dictionary<string, object>
            {
                ["scenario"] = "memory",
                ["path"] = "in-process silo, user lease grain with one lease (Redis storage)",
                ["keys"] = size,
                ["activations"] = await grains.GetGrain<IManagementGrain>(0).GetTotalActivationCount(),
                ["managedBytesPerGrain"] = (loaded.Managed - before.Managed) / size,
                ["workingSetBytesPerGrain"] = (loaded.WorkingSet - before.WorkingSet) / size,
                ["workingSetBytes"] = loaded.WorkingSet,
                ["activationSeconds"] = Math.Round(timer.Elapsed.TotalSeconds, 2),
                ["cores"] = Environment.ProcessorCount,
            });
        }

        // Idle grains go: force the collection the idle timer would do, and see what memory comes back.
        await grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var after = Measure();
        var last = rows[^1];
        last["activationsAfterDeactivation"] = await grains.GetGrain<IManagementGrain>(0).GetTotalActivationCount();
        last["managedBytesAfterDeactivation"] = after.Managed - before.Managed;
        last["workingSetBytesAfterDeactivation"] = after.WorkingSet;
        await host.StopAsync();
        return rows;
    }

    private static async Task ActivateAsync(IGrainFactory grains, string prefix, int from, int to)
    {
        for (var start = from; start < to; start += 1_000)
        {
            await Task.WhenAll(Enumerable.Range(start, Math.Min(1_000, to - start))
                .Select(i => grains.GetGrain<IUserLeaseGrain>($"{prefix}-{i}").TryAcquireLeaseAsync(new LeaseAcquireRequest($"gw-{i / UsersPerInstance}", 3_600_000))));
        }
    }

    private static (long Managed, long WorkingSet) Measure()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        using var process = Process.GetCurrentProcess();
        return (GC.GetTotalMemory(forceFullCollection: true), process.WorkingSet64);
    }
}
