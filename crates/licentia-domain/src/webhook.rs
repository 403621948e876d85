//! Webhooks as the Standard Webhooks specification has them (standardwebhooks.com, v1): which
//! events exist, which addresses a delivery may go to, and when a failed delivery is retried.
//! Signing is `licentia-crypto`'s; sending is the worker's.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::DomainError;

/// Every event type an endpoint can subscribe to (`*` subscribes to all).
pub const EVENT_TYPES: &[&str] = &[
    "agreement.submitted",
    "agreement.approved",
    "agreement.changes_requested",
    "agreement.executed",
    "run.succeeded",
    "run.failed",
    "run.cancelled",
    "licence.quota_threshold",
    "deadline.due",
    "statement.period_closed",
];

/// Checks a subscription list: known types or `*`, at least one, no repeats.
pub fn parse_events(events: &[String]) -> Result<Vec<String>, DomainError> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        let e = e.trim();
        if e != "*" && !EVENT_TYPES.contains(&e) {
            return Err(DomainError::new(
                "events",
                format!("{:?} is not an event type; use * or one of {}", e.chars().take(60).collect::<String>(), EVENT_TYPES.join(", ")),
            ));
        }
        if !out.iter().any(|x| x == e) {
            out.push(e.to_owned());
        }
    }
    if out.is_empty() {
        return Err(DomainError::new("events", "subscribe to at least one event type (or *)"));
    }
    Ok(out)
}

/// Whether an endpoint subscribed to `events` receives `event`.
pub fn subscribed(events: &[String], event: &str) -> bool {
    events.iter().any(|e| e == "*" || e == event)
}

/// A webhook URL as accepted: `https://` (or `http://` where an admin allowed private addresses,
/// for receivers inside one's own network), a host, no credentials, at most 2,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    pub url: String,
    pub host: String,
    pub port: u16,
}

impl WebhookUrl {
    pub fn parse(raw: &str, allow_private: bool) -> Result<Self, DomainError> {
        let bad = |m: &str| DomainError::new("url", m.to_owned());
        let url = raw.trim();
        if url.len() > 2000 || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("at most 2,000 characters, without spaces or control characters"));
        }
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("must start with https://"))?;
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "https" => 443,
            "http" if allow_private => 80,
            "http" => return Err(bad("must use https:// (plain http only for private addresses an admin allowed)")),
            _ => return Err(bad("must start with https://")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(bad("must not carry a user name or password"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("has an unclosed [IPv6] host"))?;
            let port = after.strip_prefix(':').map(str::parse::<u16>).transpose().map_err(|_| bad("has a bad port"))?;
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p.parse::<u16>().map_err(|_| bad("has a bad port"))?)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        Ok(Self { url: url.to_owned(), host: host.to_ascii_lowercase(), port: port.unwrap_or(default_port) })
    }
}

/// Why an address may not receive webhooks (server-side request forgery): loopback, private,
/// link-local, shared (CGNAT), unspecified, multicast, broadcast, documentation and reserved
/// ranges, IPv4 and IPv6 (including IPv4-mapped IPv6). `None`: a public address.
pub fn forbidden_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if first == 0x2001 && v6.segments()[1] == 0x0db8 {
                Some("documentation")
            } else if first == 0x0064 && v6.segments()[1] == 0xff9b {
                // NAT64 embeds an IPv4 address: judge that one.
                let [.., a, b] = v6.segments();
                forbidden_v4(Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8))
            } else {
                None
            }
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared address space (CGNAT)")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if ip.is_documentation() {
        Some("documentation")
    } else if a >= 240 || (a == 192 && b == 0 && ip.octets()[2] == 0) || (a == 198 && (b & 0xfe) == 18) {
        Some("reserved")
    } else {
        None
    }
}

/// Retries after a failed attempt, the schedule the Standard Webhooks specification suggests:
/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; after the eighth attempt the delivery is given up
/// (and can be replayed by hand).
pub const RETRY_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// The wait after `attempts` failed attempts, or `None` when it is time to give up.
pub fn next_retry(attempts: u32) -> Option<Duration> {
    attempts.checked_sub(1).and_then(|i| RETRY_SCHEDULE.get(i as usize).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_addresses_are_refused() {
        for (ip, why) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared address space (CGNAT)"),
            ("0.0.0.0", "unspecified"),
            ("::1", "loopback"),
            ("fd00::1", "private (unique local)"),
            ("fe80::1", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
        ] {
            assert_eq!(forbidden_address(ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::BROADCAST))), Some(why), "{ip}");
        }
        for ip in ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "8.8.8.8"] {
            assert_eq!(forbidden_address(ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))), None, "{ip}");
        }
    }

    #[test]
    fn urls_need_https_a_host_and_no_credentials() {
        let ok = WebhookUrl::parse("https://hooks.example.com/licentia?x=1", false);
        assert_eq!(ok.map(|u| (u.host, u.port)), Ok(("hooks.example.com".to_owned(), 443)));
        assert_eq!(WebhookUrl::parse("https://[::1]:8443/h", false).map(|u| (u.host, u.port)), Ok(("::1".to_owned(), 8443)));
        assert!(WebhookUrl::parse("http://hooks.example.com/", false).is_err());
        assert_eq!(WebhookUrl::parse("http://127.0.0.1:9000/h", true).map(|u| u.port), Ok(9000));
        for bad in ["ftp://x", "https://", "https://user:pw@host/", "https://host:99999/", "https://ho st/", "hooks.example.com"] {
            assert!(WebhookUrl::parse(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn retries_follow_the_specification_s_schedule_then_stop() {
        assert_eq!(next_retry(1), Some(Duration::from_secs(5)));
        assert_eq!(next_retry(2), Some(Duration::from_secs(300)));
        assert_eq!(next_retry(7), Some(Duration::from_secs(36_000)));
        assert_eq!(next_retry(8), None);
        assert!(parse_events(&["run.succeeded".into(), "run.succeeded".into()]).is_ok_and(|e| e.len() == 1));
        assert!(parse_events(&["run.exploded".into()]).is_err() && parse_events(&[]).is_err());
        assert!(subscribed(&["*".into()], "agreement.executed") && !subscribed(&["run.failed".into()], "run.succeeded"));
    }
}
