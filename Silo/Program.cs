using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Silo;

var builder = WebApplication.CreateBuilder(args);
try
{
    builder.AddCoordinatorSilo();
    var app = builder.Build();
    app.MapCoordinatorSilo();
    await app.RunAsync();
    return 0;
}
catch (Exception ex) when (StartupFailure.IsConfigurationError(ex))
{
    Console.Error.WriteLine($"Silo refused to start: {StartupFailure.Describe(ex)}");
    return 2;
}
