//! Which addresses callbacks may reach — the one home of the rule, used when a flow is
//! accepted ([`private_host`] on the URL as written), when a callback is delivered (the same,
//! on the URL it goes to) and when its host name is resolved ([`is_public_ip`] on every
//! address). Unless the operator allows private callbacks, a flow's callback URL must not
//! reach the operator's own network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Whether `ip` is an ordinary public address: not loopback, private, link-local,
/// shared (CGNAT), multicast, broadcast, unspecified or reserved. Callbacks to other
/// addresses are refused unless the operator allows private callbacks, so a flow's
/// callback URL cannot be used to reach the operator's own network.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || first == 0x2001 && ip.segments()[1] == 0x0db8)
}

/// The host of `url` when it names this machine or a private network without DNS:
/// `localhost` (and `*.localhost`) or an IP address that is not public. The URL is read as
/// HTTP clients read it (the WHATWG parser), so `127.1`, `2130706433` or `0x7f000001` are
/// all `127.0.0.1` here too.
pub fn private_host(url: &Url) -> Option<String> {
    let private = match url.host()? {
        Host::Domain(d) => is_private_host(d),
        Host::Ipv4(ip) => !is_public_ip(IpAddr::V4(ip)),
        Host::Ipv6(ip) => !is_public_ip(IpAddr::V6(ip)),
    };
    private.then(|| url.host_str().unwrap_or_default().to_owned())
}

/// [`private_host`] of a URL given as text; `None` when it is not a URL.
pub fn private_host_of(url: &str) -> Option<String> {
    private_host(&Url::parse(url).ok()?)
}

/// Whether a host (a name, or an IP literal, bracketed or not) names this machine or a
/// private network without DNS: `localhost` (and `*.localhost`) or an IP literal that is
/// not public.
pub fn is_private_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| !is_public_ip(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(
                !is_public_ip(private.parse().unwrap()),
                "{private} is not public"
            );
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public_ip(public.parse().unwrap()), "{public} is public");
        }
    }

    #[test]
    fn private_urls_as_http_clients_read_them() {
        let host = |u: &str| private_host_of(u);
        assert_eq!(host("https://hooks.example.com/x?y=1"), None);
        assert_eq!(host("http://8.8.8.8/cb"), None);
        assert_eq!(
            host("http://127.0.0.1:9000/cb").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            host("http://user:pw@localhost:1/cb").as_deref(),
            Some("localhost")
        );
        assert_eq!(host("http://[::1]:8080/cb").as_deref(), Some("[::1]"));
        for loopback in [
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
        ] {
            assert_eq!(host(loopback).as_deref(), Some("127.0.0.1"), "{loopback}");
        }
        assert_eq!(host("not a url"), None);
    }

    #[test]
    fn private_hosts_without_dns() {
        for host in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "api.localhost",
            "127.0.0.1",
            "[::1]",
            "10.0.0.5",
        ] {
            assert!(is_private_host(host), "{host}");
        }
        for host in [
            "example.com",
            "8.8.8.8",
            "[2a00:1450:4001::200e]",
            "localhost.example.com",
        ] {
            assert!(!is_private_host(host), "{host}");
        }
    }
}
