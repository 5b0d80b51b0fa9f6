using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Coordinator.Benchmarks.Harness;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Runtime;

namespace Orleans.Coordinator.Benchmarks.Scenarios;

/// <summary>Silo managed heap and working set per active user lease grain holding one lease, and what comes back after deactivation.</summary>
public static class MemoryScenario
{
    public static async Task<Dictionary<string, object>> RunAsync(int users)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleans(silo => silo.UseLocalhostClustering(siloPort: ChildProcess.FreePort(), gatewayPort: 0).AddCoordinator());
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
        await host.StopAsync();
        return row;
    }

    private static async Task ActivateAsync(IGrainFactory grains, string prefix, int count)
    {
        for (var start = 0; start < count; start += 1_000)
        {
            await Task.WhenAll(Enumerable.Range(start, Math.Min(1_000, count - start))
                .Select(i => grains.GetGrain<IUserLeaseGrain>($"{prefix}-{i}").TryAcquireLeaseAsync(new LeaseAcquireRequest("bench", 3_600_000))));
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
