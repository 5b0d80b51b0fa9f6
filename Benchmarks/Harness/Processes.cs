using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Orleans.Coordinator.Benchmarks.Harness;

/// <summary>A child process (redis-server, a silo, a gateway) stopped with the benchmark.</summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ChildProcess(Process process) => _process = process;

    /// <summary>Starts <paramref name="file"/> with <paramref name="arguments"/> and extra environment.</summary>
    public static ChildProcess Start(string file, IEnumerable<string> arguments, IDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        Console.Error.WriteLine($"started {(file == "dotnet" ? Path.GetFileName(start.ArgumentList[0]) : file)} (pid {process.Id})");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ChildProcess(process);
    }

    /// <summary>A built project's dll (same configuration as the benchmark), started with <c>dotnet</c>.</summary>
    public static ChildProcess StartProject(string project, int httpPort, IDictionary<string, string> environment, string? directory = null)
    {
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;
        var dll = Path.Combine(RepoRoot(), directory ?? project, "bin", configuration, "net10.0", $"Orleans.Coordinator.{project}.dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"{dll} is not built: run `dotnet build -c {configuration}` first.");
        }

        var env = new Dictionary<string, string>(environment) { ["DOTNET_ENVIRONMENT"] = "Production", ["ASPNETCORE_ENVIRONMENT"] = "Production" };
        return Start("dotnet", [dll, "--urls", $"http://127.0.0.1:{httpPort}"], env, Path.GetDirectoryName(dll));
    }

    /// <summary>Starts a <c>redis-server</c> on a free loopback port (no persistence) and waits until it answers.</summary>
    public static async Task<RedisServer> StartRedisAsync()
    {
        var port = FreePort();
        var dataDir = Directory.CreateTempSubdirectory("bench-redis").FullName;
        var process = Start("redis-server", ["--port", $"{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dataDir]);
        var connection = $"127.0.0.1:{port}";
        await process.WaitUntilAsync(async () =>
        {
            await using var probe = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"{connection},connectTimeout=500");
            return (await probe.GetDatabase().PingAsync()) >= TimeSpan.Zero;
        }, TimeSpan.FromSeconds(15), "redis-server to answer PING (install it: apt-get install -y redis-server)");
        return new RedisServer(process, connection, dataDir);
    }

    /// <summary>Waits (bounded) until <paramref name="ready"/> is true.</summary>
    public async Task WaitUntilAsync(Func<Task<bool>> ready, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{what}: the process exited with code {_process.ExitCode}");
            }

            try
            {
                if (await ready())
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or SocketException or StackExchange.Redis.RedisException or TaskCanceledException)
            {
                // Not up yet.
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{what} did not happen within {timeout}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orleans.Coordinator.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Orleans.Coordinator.sln not found above the benchmark's directory.");
    }
}

/// <summary>A started redis-server: its connection string and data directory; disposing stops it.</summary>
public sealed record RedisServer(ChildProcess Process, string Connection, string DataDirectory) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Process.DisposeAsync();
}
