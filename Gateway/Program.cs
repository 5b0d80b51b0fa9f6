using Orleans.Coordinator.Hosting;

var builder = WebApplication.CreateBuilder(args);
try
{
    builder.AddCoordinatorGateway();
    var app = builder.Build();
    app.MapCoordinatorGateway();
    await StartupPreflight.RunAsync(app.Services, GatewayEndpoints.Listens(builder.Configuration));
    await app.RunAsync();
    return 0;
}
catch (Exception ex) when (StartupFailure.IsConfigurationError(ex))
{
    // Wrong configuration is an operator's problem to fix: say what is wrong, without a stack trace.
    Console.Error.WriteLine($"Gateway refused to start: {StartupFailure.Describe(ex)}");
    return 2;
}
catch (Orleans.Runtime.OrleansException ex)
{
    // The client gave up finding a silo (Orleans:ClusterId, Orleans:ServiceId and Redis:KeyPrefix name the cluster).
    Console.Error.WriteLine($"Gateway refused to start: it could not join the cluster ({ex.GetType().Name}: {ex.Message}); a silo must be running, with the same Orleans:ClusterId, Orleans:ServiceId and Redis:KeyPrefix.");
    return 2;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("Gateway stopped before it had started.");
    return 0;
}

/// <summary>The gateway's entry point (public for tests).</summary>
public partial class Program;
