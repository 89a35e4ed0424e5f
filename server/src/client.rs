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
