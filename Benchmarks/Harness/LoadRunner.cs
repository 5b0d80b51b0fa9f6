using System.Diagnostics;
using HdrHistogram;

namespace Orleans.Coordinator.Benchmarks.Harness;

/// <summary>One result row of <c>results/latest.json</c>.</summary>
public sealed record ResultRow(
    string Scenario, string Path, int Concurrency, int Keys, double OpsPerSec,
    double P50Ms, double P99Ms, double P999Ms, long Errors, int Cores, int Rounds, double Seconds);

/// <summary>Command-line filters for profiling one path or shape: <c>--only a,b</c> and <c>--shape 64x10000</c>.</summary>
public static class BenchFilter
{
    public static IReadOnlyList<string> Paths { get; set; } = [];

    public static IReadOnlyList<string> Shapes { get; set; } = [];
}

/// <summary>
/// One way of making a decision (a path), called with the index of the operation; <paramref name="PerOperation"/>
/// decisions per call (a batch request), counted in ops/s, while latencies are per call.
/// </summary>
public sealed record BenchPath(string Name, Func<long, Task> Operation, int PerOperation = 1);

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

        // Warm-up: every path once, briefly, not recorded.
        foreach (var path in paths)
        {
            await RunAsync(path, concurrency, TimeSpan.FromSeconds(1), new LongHistogram(60_000_000, 3));
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

        return [.. paths.Select(p => new ResultRow(
            scenario, p.Name, concurrency, keys,
            Math.Round(ops[p.Name] * p.PerOperation / elapsed[p.Name].TotalSeconds),
            Ms(histograms[p.Name], 50), Ms(histograms[p.Name], 99), Ms(histograms[p.Name], 99.9),
            errors[p.Name], Environment.ProcessorCount, rounds, Math.Round(elapsed[p.Name].TotalSeconds, 1)))];
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
