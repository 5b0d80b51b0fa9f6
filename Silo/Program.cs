using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Silo;

var builder = WebApplication.CreateBuilder(args);
try
{
    builder.AddCoordinatorSilo();
    var app = builder.Build();
    app.MapCoordinatorSilo();
    await StartupPreflight.RunAsync(app.Services, SiloHostingExtensions.Listens(builder.Configuration));
    await app.RunAsync();
    return 0;
}
catch (Exception ex) when (StartupFailure.IsConfigurationError(ex))
{
    // Wrong configuration is an operator's problem to fix: say what is wrong, without a stack trace.
    Console.Error.WriteLine($"Silo refused to start: {StartupFailure.Describe(ex)}");
    return 2;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("Silo stopped before it had started.");
    return 0;
}
