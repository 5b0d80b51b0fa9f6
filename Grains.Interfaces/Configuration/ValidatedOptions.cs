using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Orleans.Coordinator.Grains.Interfaces.Configuration;

/// <summary>An options class that can list its own problems.</summary>
public interface IValidatableOptions
{
    /// <summary>Describes every problem; empty when the options are usable.</summary>
    IEnumerable<string> Validate();
}

/// <summary>Registers options bound to a configuration section and validated when the host starts.</summary>
public static class ValidatedOptionsServiceCollectionExtensions
{
    /// <summary>
    /// Binds <typeparamref name="T"/> to <paramref name="sectionName"/> and validates it at startup: a host with
    /// wrong configuration refuses to start and names every problem.
    /// </summary>
    public static OptionsBuilder<T> AddValidatedOptions<T>(this IServiceCollection services, string sectionName)
        where T : class, IValidatableOptions
    {
        ArgumentNullException.ThrowIfNull(services);
        // Idempotent: a gateway and its embedded silo may both register the same options.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<T>, SelfValidator<T>>());
        return services.AddOptions<T>().BindConfiguration(sectionName).ValidateOnStart();
    }

    private sealed class SelfValidator<T> : IValidateOptions<T>
        where T : class, IValidatableOptions
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var failures = options.Validate().ToList();
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }
}
