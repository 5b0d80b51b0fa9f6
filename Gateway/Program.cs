using Orleans.Coordinator.Hosting;

var builder = WebApplication.CreateBuilder(args);
try
{
    builder.AddCoordinatorGateway();
    var app = builder.Build();
    app.MapCoordinatorGateway();
    await app.RunAsync();
    return 0;
}
catch (Exception ex) when (StartupFailure.IsConfigurationError(ex))
{
    // Wrong configuration is an operator's problem to fix: say what is wrong, without a stack trace.
    Console.Error.WriteLine($"Gateway refused to start: {StartupFailure.Describe(ex)}");
    return 2;
}

/// <summary>The gateway's entry point (public for tests).</summary>
public partial class Program;
