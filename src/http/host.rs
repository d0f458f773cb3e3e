//! Which `Host` values we answer (protection against DNS rebinding).
//!
//! A web page on another site can make the owner's browser send requests to our address
//! under the page's own host name (DNS rebinding); the `Host` field then carries that name.
//! Bound to a loopback address, we accept only loopback names (`localhost`, `127.x.y.z`,
//! `[::1]`, any port) and the names in `web_server.allowed_hosts`. Bound to another address,
//! we also accept any IP literal and the machine's host name (also with `.local`). Any
//! other value gets `421 Misdirected Request`. An HTTP/1.0 request without `Host` is
//! answered (browsers always send one).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The accepted `Host` values, fixed at start.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    loopback_only: bool,
    /// Lower-case names from `web_server.allowed_hosts`.
    allowed: Vec<String>,
    /// The machine's host name, lower case (only used when not bound to loopback).
    hostname: Option<String>,
}

impl HostPolicy {
    /// The policy for a server bound to `bind`. Reads the machine's host name once, here.
    pub fn new(bind: IpAddr, allowed_hosts: &[String]) -> HostPolicy {
        let loopback_only = bind.is_loopback();
        let hostname = if loopback_only {
            None
        } else {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
        };
        HostPolicy::with_hostname(loopback_only, allowed_hosts, hostname)
    }

    fn with_hostname(
        loopback_only: bool,
        allowed_hosts: &[String],
        hostname: Option<String>,
    ) -> HostPolicy {
        HostPolicy {
            loopback_only,
            allowed: allowed_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            hostname,
        }
    }

    /// True when a request with this `Host` value (None: no field) may be answered.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(value) = host else { return true };
        let Some(name) = host_part(value) else {
            return false;
        };
        let name = name.to_ascii_lowercase();
        let name = name.strip_suffix('.').unwrap_or(&name);
        if self.allowed.iter().any(|a| a == name) {
            return true;
        }
        let ip = parse_ip(name);
        if name == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        if self.loopback_only {
            return false;
        }
        ip.is_some()
            || self
                .hostname
                .as_deref()
                .is_some_and(|h| name == h || name.strip_suffix(".local").is_some_and(|n| n == h))
    }
}

/// The host part of a `Host` value without its port; None when the value is malformed.
fn host_part(value: &str) -> Option<&str> {
    let valid_port =
        |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = value.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let ok = after.is_empty() || after.strip_prefix(':').is_some_and(valid_port);
        return ok.then_some(value.get(..inside.len() + 2)?);
    }
    let name = match value.rsplit_once(':') {
        Some((name, port)) if valid_port(port) => name,
        Some(_) => return None,
        None => value,
    };
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    ok.then_some(name)
}

fn parse_ip(name: &str) -> Option<IpAddr> {
    if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    name.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The JSON body of the 421 answer.
pub fn misdirected_body() -> crate::snapshot::Body {
    crate::snapshot::Body::error(
        421,
        "this Host is not served here; add the name to web_server.allowed_hosts in the \
         config to allow it",
        serde_json::json!({"key": "web_server.allowed_hosts"}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_binding_accepts_loopback_names_only() {
        let p = HostPolicy::with_hostname(true, &["Energy.Example".into()], None);
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "localhost.",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:8080",
            "energy.example",
            "energy.example:443",
        ] {
            assert!(p.allows(Some(ok)), "{ok}");
        }
        for bad in [
            "evil.example",
            "192.168.1.10",
            "[::2]",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "localhost:abc",
            "[::1",
            "[::1]x",
            "",
            "a b",
            "localhost:123456",
        ] {
            assert!(!p.allows(Some(bad)), "{bad}");
        }
        assert!(p.allows(None));
    }

    #[test]
    fn other_bindings_also_accept_ip_literals_and_our_name() {
        let p = HostPolicy::with_hostname(false, &[], Some("raspberrypi".into()));
        for ok in [
            "192.168.1.10:8080",
            "[fe80::1]:8080",
            "raspberrypi",
            "RaspberryPi.local:8080",
            "localhost",
        ] {
            assert!(p.allows(Some(ok)), "{ok}");
        }
        for bad in ["evil.example", "raspberrypi.evil", "pi.local"] {
            assert!(!p.allows(Some(bad)), "{bad}");
        }
    }
}
