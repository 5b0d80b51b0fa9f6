using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>
/// A real <c>redis-server</c> (Debian's package) started on a free loopback port with its own temp
/// directory and AOF on, as in production. Never skipped: a machine without it fails with how to get it.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string _directory;
    private readonly string? _extraArguments;
    private readonly string? _configFile;
    private Process _process;

    private RedisServer(Process process, string directory, int port, string? extraArguments, string? configFile)
    {
        _configFile = configFile;
        _process = process;
        _directory = directory;
        _extraArguments = extraArguments;
        Port = port;
    }

    /// <summary>The loopback port it listens on.</summary>
    public int Port { get; }

    /// <summary>A StackExchange.Redis configuration string for it.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>Starts a server and waits (bounded) until it answers PING.</summary>
    public static async Task<RedisServer> StartAsync(string? extraArguments = null, string? configFile = null)
    {
        var port = FreePort();
        var directory = Directory.CreateTempSubdirectory("coordinator-redis-").FullName;
        var server = new RedisServer(Launch(port, directory, extraArguments, configFile), directory, port, extraArguments, configFile);
        try
        {
            await server.WaitUntilReadyAsync();
        }
        catch
        {
            await server.DisposeAsync(); // no process or directory left behind by a start that failed
            throw;
        }

        return server;
    }

    /// <summary>Kills the server as a crash would (SIGKILL), keeping its data directory.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>Starts the server again on the same port and directory (its AOF is replayed).</summary>
    public async Task RestartAsync()
    {
        await KillAsync();
        _process.Dispose();
        _process = Launch(Port, _directory, _extraArguments, _configFile);
        await WaitUntilReadyAsync();
    }

    private static Process Launch(int port, string directory, string? extraArguments, string? configFile)
    {
        var executable = FindExecutable()
            ?? throw new InvalidOperationException(
                "redis-server was not found on PATH. The tests need a real Redis: run the README's test command " +
                "(it installs it), or as root: apt-get update && apt-get install -y redis-server");
        var start = new ProcessStartInfo(executable)
        {
            Arguments = (configFile is null ? string.Empty : $"{configFile} ") + $"--port {port} --bind 127.0.0.1 --dir {directory} --appendonly yes --appendfsync everysec " +
                        $"--save \"\" --maxmemory-policy noeviction --protected-mode yes {extraArguments}",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private Task WaitUntilReadyAsync() => Wait.UntilAsync(async () =>
    {
        if (_process.HasExited)
        {
            throw new InvalidOperationException($"redis-server exited with code {_process.ExitCode} on port {Port}.");
        }

        try
        {
            await using var probe = await ConnectionMultiplexer.ConnectAsync($"{ConnectionString},connectTimeout=500");
            await probe.GetDatabase().PingAsync();
            return true;
        }
        catch (RedisConnectionException ex)
        {
            // A server that asks for credentials is up.
            return ex.FailureType == ConnectionFailureType.AuthenticationFailure;
        }
    }, TimeSpan.FromSeconds(15), $"redis-server on 127.0.0.1:{Port} to answer PING");

    /// <summary>Opens a connection for assertions.</summary>
    public Task<ConnectionMultiplexer> ConnectAsync() => ConnectionMultiplexer.ConnectAsync($"{ConnectionString},allowAdmin=true");

    /// <summary>Every key under <paramref name="pattern"/>.</summary>
    public async Task<IReadOnlyList<string>> KeysAsync(string pattern = "*")
    {
        await using var connection = await ConnectAsync();
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        var keys = new List<string>();
        await foreach (var key in server.KeysAsync(pattern: pattern))
        {
            keys.Add(key.ToString());
        }

        return keys;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A temp directory left behind is harmless.
        }
    }

    /// <summary>A free TCP port on 127.0.0.1.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? FindExecutable()
    {
        var paths = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator)
            .Append("/usr/bin").Append("/usr/local/bin").Append("/usr/sbin");
        return paths.Select(p => Path.Combine(p, "redis-server")).FirstOrDefault(File.Exists);
    }
}
