using System.Diagnostics;
using HdrHistogram;

namespace Orleans.Coordinator.Benchmarks.Harness;

/// <summary>
/// One result row of <c>results/latest.json</c>: <paramref name="RatioTo"/> names the path of the same run this one is
/// measured against (its reference), <paramref name="Ratio"/> is this row's ops/s over the reference's, and
/// <paramref name="P99Ratio"/> its p99 over the reference's.
/// </summary>
public sealed record ResultRow(
    string Scenario, string Path, int Concurrency, int Keys, double OpsPerSec,
    double P50Ms, double P99Ms, double P999Ms, long Errors, int Cores, int Rounds, double Seconds,
    string? RatioTo = null, double? Ratio = null, double? P99Ratio = null);

/// <summary>Command-line filters for profiling one path or shape: <c>--only a,b</c> and <c>--shape 64x10000</c>.</summary>
public static class BenchFilter
{
    public static IReadOnlyList<string> Paths { get; set; } = [];

    public static IReadOnlyList<string> Shapes { get; set; } = [];
}

/// <summary>
/// One way of making a decision (a path), called with the index of the operation; <paramref name="PerOperation"/>
/// decisions per call (a batch request), counted in ops/s, while latencies are per call. <paramref name="RatioTo"/>
/// names the reference path it is reported against (default: the run's baseline; <c>""</c> for none).
/// </summary>
public sealed record BenchPath(string Name, Func<long, Task> Operation, int PerOperation = 1, string? RatioTo = null);

/// <summary>
/// Closed-loop load: <c>concurrency</c> workers each keep one call in flight. Paths are run interleaved in
/// rounds (A, B, A, B, ...) so a ratio between them survives a noisy machine; latencies go to an HDR histogram
/// (microsecond resolution, up to 60 s).
/// </summary>
public static class LoadRunner
{
    /// <summary>True when <paramref name="concurrency"/> x <paramref name="keys"/> is to be run (see <see cref="BenchFilter"/>).</summary>
    public static bool Wanted(int concurrency, int keys)
        => BenchFilter.Shapes.Count == 0 || BenchFilter.Shapes.Contains($"{concurrency}x{keys}");

    public static async Task<IReadOnlyList<ResultRow>> CompareAsync(
        string scenario, IReadOnlyList<BenchPath> paths, int concurrency, int keys, TimeSpan duration, int rounds)
    {
        paths = [.. paths.Where(p => p.Name.Contains("baseline", StringComparison.Ordinal) || BenchFilter.Paths.Count == 0 || BenchFilter.Paths.Any(p.Name.Equals))];
        var histograms = paths.ToDictionary(p => p.Name, _ => new LongHistogram(60_000_000, 3));
        var ops = paths.ToDictionary(p => p.Name, _ => 0L);
        var errors = paths.ToDictionary(p => p.Name, _ => 0L);
        var elapsed = paths.ToDictionary(p => p.Name, _ => TimeSpan.Zero);
        var slice = duration / rounds;

        // Warm-up: every path for 2 s, not recorded (tiered JIT and the grains activations settle).
        foreach (var path in paths)
        {
            await RunAsync(path, concurrency, TimeSpan.FromSeconds(2), new LongHistogram(60_000_000, 3));
        }

        for (var round = 0; round < rounds; round++)
        {
            foreach (var path in paths)
            {
                var (count, failed, took) = await RunAsync(path, concurrency, slice, histograms[path.Name]);
                ops[path.Name] += count;
                errors[path.Name] += failed;
                elapsed[path.Name] += took;
            }
        }

        var rows = paths.Select(p => new ResultRow(
            scenario, p.Name, concurrency, keys,
            Math.Round(ops[p.Name] * p.PerOperation / elapsed[p.Name].TotalSeconds),
            Ms(histograms[p.Name], 50), Ms(histograms[p.Name], 99), Ms(histograms[p.Name], 99.9),
            errors[p.Name], Environment.ProcessorCount, rounds, Math.Round(elapsed[p.Name].TotalSeconds, 1))).ToList();
        var baseline = paths.FirstOrDefault(p => p.Name.Contains("baseline", StringComparison.Ordinal))?.Name;
        return [.. rows.Select((row, i) =>
        {
            var reference = paths[i].RatioTo ?? (row.Path == baseline ? null : baseline);
            var of = rows.FirstOrDefault(r => r.Path == reference);
            return of is null || of.OpsPerSec == 0
                ? row
                : row with { RatioTo = of.Path, Ratio = Math.Round(row.OpsPerSec / of.OpsPerSec, 2), P99Ratio = of.P99Ms == 0 ? null : Math.Round(row.P99Ms / of.P99Ms, 2) };
        })];
    }

    private static async Task<(long Ops, long Errors, TimeSpan Elapsed)> RunAsync(BenchPath path, int concurrency, TimeSpan duration, LongHistogram histogram)
    {
        long next = 0, done = 0, failed = 0;
        var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var recorders = new LongHistogram[concurrency];
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async worker =>
        {
            var mine = recorders[worker] = new LongHistogram(60_000_000, 3);
            await Task.Yield();
            while (Stopwatch.GetTimestamp() < stopAt)
            {
                var i = Interlocked.Increment(ref next);
                var t0 = Stopwatch.GetTimestamp();
                try
                {
                    await path.Operation(i);
                    mine.RecordValue(Math.Max(1, (Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency));
                    Interlocked.Increment(ref done);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        }));
        var took = Stopwatch.GetElapsedTime(started);
        foreach (var recorder in recorders)
        {
            histogram.Add(recorder);
        }

        return (done, failed, took);
    }

    private static double Ms(HistogramBase histogram, double percentile)
        => histogram.TotalCount == 0 ? 0 : Math.Round(histogram.GetValueAtPercentile(percentile) / 1000.0, 3);
}
