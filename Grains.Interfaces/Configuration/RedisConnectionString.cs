using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Orleans.Coordinator.Grains.Interfaces.Configuration;

/// <summary>
/// Turns the accepted forms of <c>Redis:ConnectionString</c> into a StackExchange.Redis configuration
/// string, and redacts passwords for logs.
/// </summary>
public static class RedisConnectionString
{
    /// <summary>
    /// Accepts a StackExchange.Redis configuration string as is, or converts a <c>redis://</c> or
    /// <c>rediss://</c> URL (user info, port, database number; <c>rediss</c> turns TLS on).
    /// </summary>
    public static bool TryNormalize(string value, [NotNullWhen(true)] out string? configuration, [NotNullWhen(false)] out string? error)
    {
        configuration = null;
        if (string.IsNullOrWhiteSpace(value))
        {
            error = "it is empty.";
            return false;
        }

        var trimmed = value.Trim();
        var isUrl = trimmed.StartsWith("redis://", StringComparison.OrdinalIgnoreCase)
                    || trimmed.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase);
        if (!isUrl)
        {
            if (trimmed.Contains("://", StringComparison.Ordinal))
            {
                error = "only redis:// and rediss:// URLs are understood; otherwise use a StackExchange.Redis configuration string.";
                return false;
            }

            configuration = trimmed;
            error = null;
            return true;
        }

        if (!Uri.TryCreate(trimmed, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            error = "the URL has no host.";
            return false;
        }

        var builder = new StringBuilder();
        var host = uri.HostNameType == UriHostNameType.IPv6 ? $"[{uri.IdnHost}]" : uri.IdnHost;
        builder.Append(host).Append(':').Append(uri.IsDefaultPort || uri.Port < 0 ? 6379 : uri.Port);

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var parts = uri.UserInfo.Split(':', 2);
            var user = Uri.UnescapeDataString(parts[0]);
            var password = parts.Length == 2 ? Uri.UnescapeDataString(parts[1]) : null;
            if (password is null)
            {
                // redis://secret@host is the common "password only" form.
                password = user;
                user = string.Empty;
            }

            if (!string.IsNullOrEmpty(user))
            {
                builder.Append(",user=").Append(user);
            }

            if (!string.IsNullOrEmpty(password))
            {
                builder.Append(",password=").Append(password);
            }
        }

        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0)
        {
            if (!int.TryParse(path, out var db) || db < 0)
            {
                error = "the URL path must be a database number, e.g. redis://host:6379/0.";
                return false;
            }

            builder.Append(",defaultDatabase=").Append(db);
        }

        if (uri.Scheme.Equals("rediss", StringComparison.OrdinalIgnoreCase))
        {
            builder.Append(",ssl=true");
        }

        configuration = builder.ToString();
        error = null;
        return true;
    }

    /// <summary>The value with any password replaced by <c>*****</c>, for logs and error messages.</summary>
    public static string Redact(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return string.Empty;
        }

        if (Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri) && !string.IsNullOrEmpty(uri.UserInfo))
        {
            var user = uri.UserInfo.Split(':', 2)[0];
            return value.Replace(uri.UserInfo, uri.UserInfo.Contains(':') ? $"{user}:*****" : "*****", StringComparison.Ordinal);
        }

        var parts = value.Split(',');
        for (var i = 0; i < parts.Length; i++)
        {
            if (parts[i].TrimStart().StartsWith("password=", StringComparison.OrdinalIgnoreCase))
            {
                parts[i] = "password=*****";
            }
        }

        return string.Join(',', parts);
    }
}
