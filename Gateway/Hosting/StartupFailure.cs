using Microsoft.Extensions.Options;

namespace Orleans.Coordinator.Hosting;

/// <summary>Recognises configuration errors at startup so hosts can report them in one line.</summary>
public static class StartupFailure
{
    /// <summary>True for options validation failures and the configuration checks of this project.</summary>
    public static bool IsConfigurationError(Exception exception) => Find(exception) is not null || exception switch
    {
        AggregateException aggregate => aggregate.InnerExceptions.All(IsConfigurationError),
        OptionsValidationException or InvalidOperationException or FormatException => true,
        // Kestrel could not bind (the preflight checks ports first; this is the race it cannot close).
        IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException } => true,
        _ => exception.InnerException is OptionsValidationException,
    };

    /// <summary>A one-line description listing every failure.</summary>
    public static string Describe(Exception exception) => Find(exception)?.Message ?? exception switch
    {
        AggregateException aggregate => string.Join(" ", aggregate.InnerExceptions.Select(Describe)),
        OptionsValidationException options => string.Join(" ", options.Failures),
        { InnerException: OptionsValidationException inner } => string.Join(" ", inner.Failures),
        _ => exception.Message,
    };

    /// <summary>A configuration problem reported from deep inside startup (e.g. Redis refusing the credentials).</summary>
    private static Grains.Interfaces.Configuration.CoordinatorConfigurationException? Find(Exception? exception)
    {
        for (var depth = 0; exception is not null && depth < 16; depth++)
        {
            if (exception is Grains.Interfaces.Configuration.CoordinatorConfigurationException found)
            {
                return found;
            }

            if (exception is AggregateException { InnerExceptions.Count: > 0 } aggregate)
            {
                return aggregate.InnerExceptions.Select(Find).FirstOrDefault(e => e is not null);
            }

            exception = exception.InnerException;
        }

        return null;
    }
}

/// <summary>
/// Checks made after the host is built and before it starts, so that a wrong configuration or a taken port ends the
/// process with one line (exit 2) instead of a host stack trace: every options validation registered with
/// <c>ValidateOnStart</c> (the same <see cref="IStartupValidator"/> the host would run), then every address the
/// process will listen on.
/// </summary>
public static class StartupPreflight
{
    /// <summary>
    /// Throws <see cref="OptionsValidationException"/> naming every failed option, or
    /// <see cref="Grains.Interfaces.Configuration.CoordinatorConfigurationException"/> naming the setting whose port is
    /// already in use, or the reason an <see cref="Grains.Interfaces.Configuration.IStartupCheck"/> (Redis) failed.
    /// </summary>
    public static async Task RunAsync(IServiceProvider services, IEnumerable<(string Setting, string Host, int Port)> listens)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(listens);
        services.GetService<IStartupValidator>()?.Validate();
        foreach (var (setting, host, port) in listens)
        {
            EnsureFree(setting, host, port);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        foreach (var check in services.GetServices<Grains.Interfaces.Configuration.IStartupCheck>())
        {
            try
            {
                await check.CheckAsync(timeout.Token);
            }
            catch (OperationCanceledException ex) when (timeout.IsCancellationRequested)
            {
                throw new Grains.Interfaces.Configuration.CoordinatorConfigurationException(
                    "Redis did not answer within 30 s: check Redis:ConnectionString (host, port, TLS) and that Redis is running.", ex);
            }
        }
    }

    /// <summary>The <c>http://host:port</c> entries of an ASP.NET Core <c>urls</c> value (<c>;</c>-separated).</summary>
    public static IEnumerable<(string Host, int Port)> ParseUrls(string? urls)
    {
        foreach (var url in (urls ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri))
            {
                yield return (uri.Host, uri.Port);
            }
        }
    }

    private static void EnsureFree(string setting, string host, int port)
    {
        if (port <= 0)
        {
            return; // 0: the system picks a free port
        }

        var address = host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? System.Net.IPAddress.Loopback
            : host is "*" or "+" ? System.Net.IPAddress.Any
            : System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var parsed) ? parsed
            : null;
        if (address is null)
        {
            return; // a host name: Kestrel resolves it and reports its own errors
        }

        try
        {
            using var probe = new System.Net.Sockets.Socket(address.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            probe.Bind(new System.Net.IPEndPoint(address, port));
        }
        catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
        {
            throw new Grains.Interfaces.Configuration.CoordinatorConfigurationException(
                $"{setting}: {host}:{port} is already in use by another process; stop it or choose another port.", ex);
        }
        catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.AddressNotAvailable)
        {
            throw new Grains.Interfaces.Configuration.CoordinatorConfigurationException(
                $"{setting}: {host} is not an address of this machine.", ex);
        }
    }
}
