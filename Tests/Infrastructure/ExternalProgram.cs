using System.ComponentModel;
using System.Diagnostics;

namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>What a program run by <see cref="ExternalProgram.RunAsync"/> left behind.</summary>
/// <param name="Code">Its exit code.</param>
/// <param name="Output">Everything it wrote to standard output.</param>
/// <param name="Errors">Everything it wrote to standard error.</param>
public sealed record ProgramResult(int Code, string Output, string Errors)
{
    /// <summary>Standard output and standard error, for assertion messages.</summary>
    public string All => Output + Errors;
}

/// <summary>
/// Runs a real program the tests depend on (redis-cli, promtool, Chromium, dotnet, openssl scripts) with a bound: past
/// it, the whole process tree is killed and a <see cref="TimeoutException"/> names the program and what it said.
/// </summary>
public static class ExternalProgram
{
    /// <summary>Runs <paramref name="program"/> with <paramref name="arguments"/> and waits at most <paramref name="timeout"/>.</summary>
    /// <exception cref="InvalidOperationException">The program is not installed (the message says how to get it).</exception>
    /// <exception cref="TimeoutException">It ran past <paramref name="timeout"/>.</exception>
    public static async Task<ProgramResult> RunAsync(
        string program, IEnumerable<string> arguments, TimeSpan timeout, string? workingDirectory = null, IDictionary<string, string>? environment = null)
    {
        var ct = TestContext.Current.CancellationToken;
        var start = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException($"{program} could not be started ({ex.Message}): ./test.sh installs the Debian packages the tests run (redis-server, chromium, prometheus, openssl).", ex);
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync(ct);
            var errors = process.StandardError.ReadToEndAsync(ct);
            try
            {
                await process.WaitForExitAsync(ct).WaitAsync(timeout, ct);
            }
            catch (TimeoutException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{program} {string.Join(' ', start.ArgumentList)} did not finish within {timeout.TotalSeconds:0} s: {await errors.WaitAsync(TimeSpan.FromSeconds(1), ct)}");
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }

            return new ProgramResult(process.ExitCode, await output, await errors);
        }
    }
}
