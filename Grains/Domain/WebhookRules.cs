using System.Net;
using System.Net.Sockets;

namespace Orleans.Coordinator.Grains.Domain;

/// <summary>
/// The pure rules of webhook delivery: when to try again, and which destinations may be called. The rules for
/// addresses follow the IANA special-purpose registries (RFC 6890): loopback, private (RFC 1918), shared (RFC 6598),
/// link-local (RFC 3927, RFC 4291), unique local (RFC 4193), unspecified, multicast and broadcast addresses are not
/// public; a webhook reaches them only when its host is listed by name in <c>Webhooks:AllowedHosts</c>.
/// </summary>
public static class WebhookRules
{
    /// <summary>
    /// The wait in ms before the next attempt after <paramref name="failedAttempts"/> failures (1 or more): exponential
    /// backoff, <c>min(max, initial x 2^(failures - 1))</c>, with "equal jitter" (half of it fixed, half drawn from
    /// <paramref name="unitRandom"/> in [0, 1)), so receivers that failed together are not retried together. At least 1 ms.
    /// </summary>
    public static long NextDelayMs(int failedAttempts, double unitRandom, long initialMs, long maxMs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(failedAttempts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(initialMs, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMs, initialMs);
        var exponent = Math.Min(failedAttempts - 1, 62);
        var full = exponent >= 62 || initialMs > maxMs >> exponent ? maxMs : initialMs << exponent;
        var half = full / 2;
        var jitter = (long)(Math.Clamp(unitRandom, 0, 1) * (full - half));
        return Math.Max(1, Math.Min(full, half + jitter));
    }

    /// <summary>True for an address on the public internet (none of the special-purpose ranges this class names).</summary>
    public static bool IsPublic(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address))
        {
            return false;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] == 0 // "this network"
                || b[0] == 10 // RFC 1918
                || (b[0] == 100 && (b[1] & 0xC0) == 64) // RFC 6598 shared address space
                || b[0] == 127
                || (b[0] == 169 && b[1] == 254) // link-local, cloud metadata endpoints
                || (b[0] == 172 && (b[1] & 0xF0) == 16) // RFC 1918
                || (b[0] == 192 && b[1] == 0 && b[2] == 0) // IETF protocol assignments
                || (b[0] == 192 && b[1] == 168) // RFC 1918
                || (b[0] == 198 && (b[1] & 0xFE) == 18) // benchmarking
                || b[0] >= 224); // multicast, reserved, broadcast
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var b = address.GetAddressBytes();
            if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b)
            {
                // NAT64 (RFC 6052 64:ff9b::/96 embeds an IPv4 address; RFC 8215 64:ff9b:1::/48 is local use).
                return b[4] == 0 && b[5] == 0 && b.AsSpan(6, 6).IndexOfAnyExcept((byte)0) < 0 && IsPublic(new IPAddress(b.AsSpan(12, 4)));
            }

            return !(address.Equals(IPAddress.IPv6None) || address.Equals(IPAddress.IPv6Any)
                || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast
                || (b[0] & 0xFE) == 0xFC // unique local fc00::/7
                || address.IsIPv4MappedToIPv6
                || (b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0)); // ::/64 (incl. IPv4-compatible)
        }

        return false;
    }

    /// <summary>
    /// How <paramref name="host"/> stands against <paramref name="allowedHosts"/>: each entry is <c>*</c> (any host, public
    /// addresses only), <c>*.example.com</c> (its subdomains) or a host name or address; compared without case.
    /// </summary>
    /// <returns><see cref="HostPermission.Refused"/> when nothing matches; <see cref="HostPermission.PublicOnly"/> when only
    /// <c>*</c> matches; <see cref="HostPermission.Listed"/> when the host matches an entry by name or by suffix, which also
    /// lets it resolve to private, loopback or link-local addresses.</returns>
    public static HostPermission Permission(string host, IEnumerable<string> allowedHosts)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(allowedHosts);
        var normalized = host.Trim('[', ']').TrimEnd('.');
        var result = HostPermission.Refused;
        foreach (var entry in allowedHosts)
        {
            var pattern = entry.Trim().Trim('[', ']').TrimEnd('.');
            if (pattern == "*")
            {
                result = HostPermission.PublicOnly;
            }
            else if (pattern.StartsWith("*.", StringComparison.Ordinal)
                ? normalized.EndsWith(pattern[1..], StringComparison.OrdinalIgnoreCase) && normalized.Length > pattern.Length - 1
                : string.Equals(normalized, pattern, StringComparison.OrdinalIgnoreCase))
            {
                return HostPermission.Listed;
            }
        }

        return result;
    }
}

/// <summary>What <see cref="WebhookRules.Permission"/> allows for a host.</summary>
public enum HostPermission
{
    /// <summary>Not allowed at all.</summary>
    Refused,

    /// <summary>Allowed by <c>*</c>: only when it resolves to public addresses.</summary>
    PublicOnly,

    /// <summary>Listed by name: any address it resolves to.</summary>
    Listed,
}
