using System.Diagnostics;
using CsCheck;

namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>
/// Property tests on CsCheck generators, drawn from one fixed PCG stream: the same seed gives the same cases on
/// every run and machine (CsCheck's own <c>Sample(seed:)</c> fixes only the first case). Bounded by a count and a
/// time budget; a failure names the seed, the case number and the input.
/// </summary>
public static class SeededProperty
{
    public static int ForAll<T>(Gen<T> gen, Action<T> assert, ulong seed, int iterations, TimeSpan? budget = null)
    {
        ArgumentNullException.ThrowIfNull(gen);
        ArgumentNullException.ThrowIfNull(assert);
        var pcg = new PCG(1, seed);
        var clock = Stopwatch.StartNew();
        var limit = budget ?? TimeSpan.FromSeconds(10);
        var run = 0;
        for (; run < iterations && clock.Elapsed < limit; run++)
        {
            var value = gen.Generate(pcg, null!, out _);
            try
            {
                assert(value);
            }
            catch (Exception ex)
            {
                throw new Xunit.Sdk.XunitException($"property failed on case {run} of seed {seed}: {Check.Print(value)}{Environment.NewLine}{ex.Message}", ex);
            }
        }

        Assert.True(run > 0, "the property ran no case within its time budget");
        return run;
    }
}
