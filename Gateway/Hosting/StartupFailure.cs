using Microsoft.Extensions.Options;

namespace Orleans.Coordinator.Hosting;

/// <summary>Recognises configuration errors at startup so hosts can report them in one line.</summary>
public static class StartupFailure
{
    /// <summary>True for options validation failures and the configuration checks of this project.</summary>
    public static bool IsConfigurationError(Exception exception) => exception switch
    {
        AggregateException aggregate => aggregate.InnerExceptions.All(IsConfigurationError),
        OptionsValidationException or InvalidOperationException or FormatException => true,
        _ => exception.InnerException is OptionsValidationException,
    };

    /// <summary>A one-line description listing every failure.</summary>
    public static string Describe(Exception exception) => exception switch
    {
        AggregateException aggregate => string.Join(" ", aggregate.InnerExceptions.Select(Describe)),
        OptionsValidationException options => string.Join(" ", options.Failures),
        { InnerException: OptionsValidationException inner } => string.Join(" ", inner.Failures),
        _ => exception.Message,
    };
}
