using Grpc.Core;
using Grpc.Core.Interceptors;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Hosting;
using Orleans.Runtime;

namespace Orleans.Coordinator.Envoy;

/// <summary>
/// The gRPC counterpart of <see cref="ExceptionProblemHandler"/>: an exception that escapes a service becomes a
/// defined status instead of <c>UNKNOWN</c> ("Exception was thrown by handler"). A validation failure answers
/// <c>INVALID_ARGUMENT</c> naming the field; an unreachable cluster or store <c>UNAVAILABLE</c>; anything else
/// <c>INTERNAL</c> with no details (the exception is logged). Services answer their own statuses first; this is the
/// net under them.
/// </summary>
internal sealed partial class GrpcErrorInterceptor(ILogger<GrpcErrorInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (RpcException)
        {
            throw;
        }
        catch (CoordinatorValidationException ex)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{ex.Field}: {ex.Message}"));
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException or CoordinatorUnavailableException || StorageFailures.Is(ex))
        {
            LogUnavailable(logger, context.Method, ex.GetType().Name);
            throw new RpcException(new Status(StatusCode.Unavailable, "the coordinator cluster or its storage is unavailable"));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogUnhandled(logger, context.Method, ex);
            throw new RpcException(new Status(StatusCode.Internal, "internal error; details are in the server log"));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "gRPC {Method} answered UNAVAILABLE: {ExceptionType}")]
    private static partial void LogUnavailable(ILogger logger, string method, string exceptionType);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled error in gRPC {Method}")]
    private static partial void LogUnhandled(ILogger logger, string method, Exception exception);
}
