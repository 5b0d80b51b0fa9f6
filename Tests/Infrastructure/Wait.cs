using System.Diagnostics;

namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>Bounded waits that name what they waited for. No sleeps as synchronisation.</summary>
public static class Wait
{
    /// <summary>Polls <paramref name="condition"/> until true, or fails naming <paramref name="what"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var started = Stopwatch.StartNew();
        Exception? last = null;
        while (started.Elapsed < timeout)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is not InvalidOperationException)
            {
                last = ex;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }

        throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what}." +
                                   (last is null ? string.Empty : $" Last error: {last.GetType().Name}: {last.Message}"));
    }

    /// <summary>Polls until <paramref name="condition"/> is true.</summary>
    public static Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what)
        => UntilAsync(() => Task.FromResult(condition()), timeout, what);
}
