using System.Collections.Concurrent;
using System.Diagnostics;

namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>
/// A Silo or Gateway run as a real OS process from its own build output (<c>dotnet X.dll</c>), as the
/// README's quick start does, so it can be killed with SIGKILL.
/// </summary>
public sealed class CoordinatorProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private CoordinatorProcess(Process process, string name, Uri? baseAddress, IReadOnlyDictionary<string, string> settings)
    {
        _process = process;
        Settings = settings;
        Name = name;
        BaseAddress = baseAddress;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }

    /// <summary>The environment settings the process was started with.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; }

    public Uri? BaseAddress { get; }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Everything the process printed so far.</summary>
    public string Output => string.Join(Environment.NewLine, _output);

    /// <summary>Starts <c>dotnet {project}/bin/.../Orleans.Coordinator.{project}.dll</c> with <paramref name="environment"/>.</summary>
    public static CoordinatorProcess Start(string project, int? httpPort, IDictionary<string, string> environment)
    {
        var dll = BuiltDll(project);
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.ArgumentList.Add(dll);
        if (httpPort is { } port)
        {
            start.ArgumentList.Add("--urls");
            start.ArgumentList.Add($"http://127.0.0.1:{port}");
        }

        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {dll}.");
        return new CoordinatorProcess(process, project, httpPort is { } p ? new Uri($"http://127.0.0.1:{p}") : null, new Dictionary<string, string>(environment));
    }

    /// <summary>Waits (bounded) for <c>/readyz</c> to answer 200.</summary>
    public async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(3) };
        await Wait.UntilAsync(async () =>
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode} before it was ready:{Environment.NewLine}{Output}");
            }

            return (await http.GetAsync("/readyz")).IsSuccessStatusCode;
        }, timeout, $"{Name} at {BaseAddress} to answer /readyz with 200. Output so far:{Environment.NewLine}{Output}");
    }

    /// <summary>Waits (bounded) for the process to exit by itself and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown, no goodbye to the cluster.</summary>
    public void KillHard()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>SIGSTOP: the process freezes where it is (a long GC pause, a stalled VM), sockets left open.</summary>
    public Task PauseAsync() => SignalAsync("STOP");

    /// <summary>SIGCONT: the process carries on from where it froze.</summary>
    public Task ResumeAsync() => SignalAsync("CONT");

    private async Task SignalAsync(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", $"kill -{signal} {_process.Id}"]) { UseShellExecute = false })
            ?? throw new InvalidOperationException($"could not send SIG{signal} to {Name}");
        await kill.WaitForExitAsync();
        Assert.True(kill.ExitCode == 0, $"kill -{signal} {Name} exited with {kill.ExitCode}");
    }

    public async ValueTask DisposeAsync()
    {
        KillHard();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private static string BuiltDll(string project)
    {
        // Tests run from Tests/bin/{Configuration}/net10.0: use the same configuration of the project.
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;
        var dll = RepoPaths.Combine(project, "bin", configuration, "net10.0", $"Orleans.Coordinator.{project}.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{dll} is missing: build the solution first.", dll);
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            _output.Enqueue(line);
        }
    }
}
