using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Orleans.Coordinator.Benchmarks.Harness;

/// <summary>Prints result rows as a markdown table and writes <c>results/latest.json</c> and <c>results/latest.md</c>.</summary>
public static class Report
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public const string Header = "| scenario | path | in flight | keys | ops/s | p50 ms | p99 ms | p99.9 ms | errors | cores |\n|---|---|---|---|---|---|---|---|---|---|";

    public static string Line(ResultRow r) => string.Create(CultureInfo.InvariantCulture,
        $"| {r.Scenario} | {r.Path} | {r.Concurrency} | {r.Keys} | {r.OpsPerSec:0} | {r.P50Ms:0.###} | {r.P99Ms:0.###} | {r.P999Ms:0.###} | {r.Errors} | {r.Cores} |");

    public static void Print(IEnumerable<ResultRow> rows)
    {
        foreach (var row in rows)
        {
            Console.WriteLine(Line(row));
        }
    }

    public static async Task WriteAsync(IReadOnlyList<ResultRow> rows, IReadOnlyList<Dictionary<string, object>> memory)
    {
        var directory = Path.Combine(ChildProcess.RepoRoot(), "Benchmarks", "results");
        Directory.CreateDirectory(directory);
        var all = rows.Select(r => (object)r).Concat(memory).ToList();
        await File.WriteAllTextAsync(Path.Combine(directory, "latest.json"), JsonSerializer.Serialize(all, Json));
        var md = new StringBuilder().AppendLine(Header);
        foreach (var row in rows)
        {
            md.AppendLine(Line(row));
        }

        foreach (var ratio in Ratios(rows))
        {
            md.AppendLine().Append(ratio);
        }

        var cacheMemory = memory.Where(m => (string)m["scenario"] == "cache-memory").ToList();
        memory = [.. memory.Except(cacheMemory)];
        if (cacheMemory.Count > 0)
        {
            md.AppendLine().AppendLine().AppendLine("| cache memory | entries | bytes per entry | goal (value + 1.2 x vector + 300) | ratio to goal |").AppendLine("|---|---|---|---|---|");
            foreach (var m in cacheMemory)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {m["path"]} | {m["keys"]} | {m["bytesPerEntry"]} | {m["goalBytesPerEntry"]} | {m["ratioToGoal"]} |");
            }
        }

        if (memory.Count > 0)
        {
            md.AppendLine().AppendLine().AppendLine("| memory scenario | grains | managed bytes per grain | working set bytes per grain | silo working set | after deactivation: activations, managed bytes left |").AppendLine("|---|---|---|---|---|---|");
            foreach (var m in memory)
            {
                var after = m.TryGetValue("managedBytesAfterDeactivation", out var left) ? $"{m["activationsAfterDeactivation"]}, {left}" : "-";
                md.AppendLine(CultureInfo.InvariantCulture, $"| {m["path"]} | {m["keys"]} | {m["managedBytesPerGrain"]} | {m["workingSetBytesPerGrain"]} | {(long)m["workingSetBytes"] / (1 << 20)} MiB | {after} |");
            }
        }

        await File.WriteAllTextAsync(Path.Combine(directory, "latest.md"), md.ToString());
    }

    /// <summary>Each path's throughput and p99 against its reference path, measured in the same run (same in-flight and keys).</summary>
    public static IEnumerable<string> Ratios(IReadOnlyList<ResultRow> rows)
        => rows.Where(r => r.Ratio is not null).Select(r => string.Create(CultureInfo.InvariantCulture,
            $"- {r.Scenario}, {r.Concurrency} in flight, {r.Keys} keys: {r.Path} = {r.Ratio:0.00}x {r.RatioTo}'s throughput, p99 {r.P99Ms:0.###} ms = {r.P99Ratio:0.00}x its {rows.First(o => o.Scenario == r.Scenario && o.Concurrency == r.Concurrency && o.Keys == r.Keys && o.Path == r.RatioTo).P99Ms:0.###} ms"));
}
