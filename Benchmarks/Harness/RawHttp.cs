using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Orleans.Coordinator.Benchmarks.Harness;

/// <summary>
/// A lean HTTP/1.1 load client (keep-alive connections, requests encoded once, responses read with
/// Content-Length or chunked framing): the load generator shares the machine's two cores with what it measures,
/// and <see cref="HttpClient"/> costs several times more CPU per request than <c>wrk</c> does. A connection is
/// taken from the pool for one request at a time, so calls in flight equal connections in use.
/// </summary>
public sealed class RawHttp(Uri server) : IAsyncDisposable
{
    private readonly IPEndPoint _endpoint = new(IPAddress.Parse(server.Host), server.Port);
    private readonly ConcurrentBag<Connection> _idle = [];
    private readonly ConcurrentBag<Connection> _all = [];

    /// <summary>Encodes a request once; send it as often as needed.</summary>
    public static byte[] Request(string method, string path, string token, string? json = null)
    {
        var body = json is null ? [] : Encoding.UTF8.GetBytes(json);
        var head = new StringBuilder()
            .Append($"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n")
            .Append(json is null ? "" : $"Content-Type: application/json\r\nContent-Length: {body.Length}\r\n")
            .Append("\r\n")
            .ToString();
        return [.. Encoding.ASCII.GetBytes(head), .. body];
    }

    /// <summary>Sends <paramref name="request"/> and returns the response's status code once the whole response is read.</summary>
    public async Task<int> SendAsync(byte[] request) => (await ExchangeAsync(request)).Status;

    /// <summary>Sends <paramref name="request"/>, throws unless the status is 2xx, and returns the response's <c>Location</c> header.</summary>
    public async Task<string> SendForLocationAsync(byte[] request)
    {
        var (status, head) = await ExchangeAsync(request);
        if (status is < 200 or > 299)
        {
            throw new HttpRequestException($"HTTP {status}", null, (HttpStatusCode)status);
        }

        var at = head.IndexOf("\r\nlocation:", StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            throw new HttpRequestException("the response has no Location header");
        }

        var start = at + "\r\nlocation:".Length;
        var end = head.IndexOf('\r', start);
        return head[start..(end < 0 ? head.Length : end)].Trim();
    }

    private async Task<(int Status, string Head)> ExchangeAsync(byte[] request)
    {
        if (!_idle.TryTake(out var connection))
        {
            connection = await Connection.OpenAsync(_endpoint);
            _all.Add(connection);
        }

        try
        {
            var answer = await connection.SendAsync(request);
            _idle.Add(connection);
            return answer;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Sends <paramref name="request"/> and throws unless the status is 2xx.</summary>
    public async Task SendExpectingSuccessAsync(byte[] request)
    {
        var status = await SendAsync(request);
        if (status is < 200 or > 299)
        {
            throw new HttpRequestException($"HTTP {status}", null, (HttpStatusCode)status);
        }
    }

    public ValueTask DisposeAsync()
    {
        foreach (var connection in _all)
        {
            connection.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private sealed class Connection : IDisposable
    {
        private readonly Socket _socket;
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        private Connection(Socket socket) => _socket = socket;

        public static async Task<Connection> OpenAsync(IPEndPoint endpoint)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(endpoint);
            return new Connection(socket);
        }

        public async Task<(int Status, string Head)> SendAsync(byte[] request)
        {
            await _socket.SendAsync(request, SocketFlags.None);
            var headerEnd = await FindAsync("\r\n\r\n"u8.ToArray());
            var head = Encoding.ASCII.GetString(_buffer, _start, headerEnd - _start);
            _start = headerEnd + 4;
            var status = int.Parse(head.AsSpan(9, 3), provider: System.Globalization.CultureInfo.InvariantCulture);
            var lengthAt = head.IndexOf("\r\ncontent-length:", StringComparison.OrdinalIgnoreCase);
            if (lengthAt >= 0)
            {
                var valueStart = lengthAt + "\r\ncontent-length:".Length;
                var valueEnd = head.IndexOf('\r', valueStart);
                await SkipAsync(int.Parse(head.AsSpan(valueStart, (valueEnd < 0 ? head.Length : valueEnd) - valueStart).Trim(), provider: System.Globalization.CultureInfo.InvariantCulture));
            }
            else if (head.Contains("\r\ntransfer-encoding: chunked", StringComparison.OrdinalIgnoreCase))
            {
                while (true)
                {
                    var lineEnd = await FindAsync("\r\n"u8.ToArray());
                    var size = Convert.ToInt32(Encoding.ASCII.GetString(_buffer, _start, lineEnd - _start).Split(';')[0].Trim(), 16);
                    _start = lineEnd + 2;
                    await SkipAsync(size + 2);
                    if (size == 0)
                    {
                        break;
                    }
                }
            }

            return (status, head);
        }

        /// <summary>Reads until <paramref name="marker"/> is buffered; returns its offset.</summary>
        private async Task<int> FindAsync(byte[] marker)
        {
            while (true)
            {
                var at = _buffer.AsSpan(_start, _end - _start).IndexOf(marker);
                if (at >= 0)
                {
                    return _start + at;
                }

                await FillAsync();
            }
        }

        private async Task SkipAsync(int count)
        {
            while (count > 0)
            {
                if (_end == _start)
                {
                    await FillAsync();
                }

                var take = Math.Min(count, _end - _start);
                (_start, count) = (_start + take, count - take);
            }
        }

        private async Task FillAsync()
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                (_end, _start) = (_end - _start, 0);
            }

            var read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None);
            if (read == 0)
            {
                throw new IOException("the server closed the connection");
            }

            _end += read;
        }

        public void Dispose() => _socket.Dispose();
    }
}
