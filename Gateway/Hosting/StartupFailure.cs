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
