namespace Orleans.Coordinator.Grains.Domain;

/// <summary>
/// The A2A task lifecycle: any state may follow a non-terminal one; nothing follows <c>completed</c>, <c>canceled</c>,
/// <c>failed</c> or <c>rejected</c> (states numbered as in the A2A list: submitted 0, working 1, input-required 2,
/// auth-required 3, completed 4, canceled 5, failed 6, rejected 7). Pure.
/// </summary>
public static class AgentTaskRules
{
    /// <summary>The first terminal state's number.</summary>
    public const int FirstTerminal = 4;

    /// <summary>True when a task in <paramref name="from"/> may move to <paramref name="to"/>.</summary>
    public static bool CanMove(int from, int to) => from < FirstTerminal && to is >= 0 and <= 7;

    /// <summary>
    /// Whether one more artifact of <paramref name="bytes"/> fits beside <paramref name="count"/> artifacts of
    /// <paramref name="totalBytes"/>, within <paramref name="maxCount"/> and <paramref name="maxTotalBytes"/>.
    /// </summary>
    public static bool ArtifactFits(int count, long totalBytes, int bytes, int maxCount, long maxTotalBytes)
        => count < maxCount && totalBytes + bytes <= maxTotalBytes;

    /// <summary>The newest <paramref name="max"/> of <paramref name="items"/> (the oldest go first).</summary>
    public static T[] KeepNewest<T>(IReadOnlyList<T> items, int max)
        => items.Count <= max ? [.. items] : [.. items.Skip(items.Count - max)];
}
