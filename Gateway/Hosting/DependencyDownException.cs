namespace Orleans.Coordinator.Hosting;

/// <summary>A dependency (the grain cluster or Redis) did not answer: the breaker is open, it failed, or it was too slow.</summary>
public sealed class DependencyDownException(string dependency, string reason, Exception? inner = null)
    : Exception($"{dependency} is unavailable: {reason}", inner)
{
    /// <summary><c>cluster</c> or <c>redis</c>.</summary>
    public string Dependency { get; } = dependency;

    /// <summary>A short, secret-free reason (<c>circuit open</c>, <c>timeout</c>, an exception type).</summary>
    public string Reason { get; } = reason;
}

/// <summary>Recognises failures of the grains' Redis storage as they reach a caller (whatever wraps them).</summary>
public static class StorageFailures
{
    /// <summary>True when a StackExchange.Redis exception, or Orleans' storage-provider error, is in the chain.</summary>
    public static bool Is(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e.GetType().FullName?.StartsWith("StackExchange.Redis.", StringComparison.Ordinal) == true
                || e.GetType().FullName?.StartsWith("Orleans.Persistence.Redis.", StringComparison.Ordinal) == true
                || e.Message.StartsWith("Error from storage provider", StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
