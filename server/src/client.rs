//! What the server keeps about the visitor's connection. The raw IP address
//! is personal data that the consent proof does not need, so only a
//! truncated form is ever stored: the /24 network for IPv4, the /48 for
//! IPv6.

use std::net::IpAddr;

/// The network part of an address, as text (`203.0.113.0/24`).
pub fn truncate_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return truncate_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// The visitor's address from `X-Forwarded-For` values (every header
/// line, in order), behind `hops` proxies that each append the address
/// they saw: the entry `hops` from the right. Entries further left come
/// from the client and could say anything. `None` when the list is too
/// short or that entry is not an address.
pub fn forwarded_for<'a>(values: impl Iterator<Item = &'a str>, hops: usize) -> Option<IpAddr> {
    let entries: Vec<&str> = values.flat_map(|v| v.split(',')).map(str::trim).collect();
    let entry = *entries.get(entries.len().checked_sub(hops)?)?;
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

/// User agents are kept for the proof of consent but capped, so a client
/// cannot inflate the log.
pub fn cap_user_agent(ua: &str) -> String {
    ua.chars().take(512).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_keeps_the_slash_24() {
        assert_eq!(
            truncate_ip("203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
    }

    #[test]
    fn the_visitor_is_the_entry_the_proxies_appended() {
        let one = |v: &[&str]| forwarded_for(v.iter().copied(), 1);
        // A client that sends its own header cannot choose its address.
        assert_eq!(
            one(&["6.6.6.6, 203.0.113.9"]),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(
            one(&["6.6.6.6", "203.0.113.9"]),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(
            one(&["[2001:db8::1]:443"]),
            Some("2001:db8::1".parse().unwrap())
        );
        // Two proxies: the second appended the first's address.
        assert_eq!(
            forwarded_for(["6.6.6.6, 203.0.113.9, 10.0.0.2"].into_iter(), 2),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(forwarded_for(["203.0.113.9"].into_iter(), 2), None);
        assert_eq!(one(&[]), None);
        assert_eq!(one(&["unknown"]), None);
    }

    #[test]
    fn ipv6_keeps_the_slash_48() {
        assert_eq!(
            truncate_ip("2001:db8:abcd:12:1:2:3:4".parse().unwrap()),
            "2001:db8:abcd::/48"
        );
        assert_eq!(
            truncate_ip("::ffff:10.1.2.3".parse().unwrap()),
            "10.1.2.0/24"
        );
    }
}
