//! Which addresses a request to a URL a tenant chose may reach: public unicast only. Loopback
//! is its own class, allowed only when the operator says so (development and tests); every
//! other special-purpose range (private, shared, link-local with the cloud metadata services,
//! unique-local, multicast, documentation, reserved) is refused, in IPv4 and IPv6 alike,
//! including IPv4 addresses carried inside IPv6 (mapped, compatible, NAT64, 6to4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What an address is, for an outbound request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Reachable on the public internet.
    Public,
    /// This machine.
    Loopback,
    /// Anything else, named (e.g. "private", "link-local (cloud metadata)").
    Special(&'static str),
}

/// Classifies an address.
pub fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, network: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(network)) & mask
}

/// IPv4 special-purpose ranges (RFC 6890 and its updates), most specific first.
const V4_SPECIAL: &[([u8; 4], u32, &str)] = &[
    ([0, 0, 0, 0], 8, "unspecified (this network)"),
    ([10, 0, 0, 0], 8, "private"),
    ([100, 64, 0, 0], 10, "shared (carrier-grade NAT)"),
    ([169, 254, 0, 0], 16, "link-local (cloud metadata)"),
    ([172, 16, 0, 0], 12, "private"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments"),
    ([192, 0, 2, 0], 24, "documentation"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast"),
    ([192, 168, 0, 0], 16, "private"),
    ([198, 18, 0, 0], 15, "benchmarking"),
    ([198, 51, 100, 0], 24, "documentation"),
    ([203, 0, 113, 0], 24, "documentation"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([240, 0, 0, 0], 4, "reserved"),
];

fn classify_v4(ip: Ipv4Addr) -> Class {
    if ip.is_loopback() {
        return Class::Loopback;
    }
    V4_SPECIAL
        .iter()
        .find(|(network, prefix, _)| in_v4(ip, *network, *prefix))
        .map_or(Class::Public, |(_, _, name)| Class::Special(name))
}

fn in_v6(ip: Ipv6Addr, network: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(network)) & mask
}

/// IPv6 special-purpose ranges that carry no IPv4 address, most specific first.
const V6_SPECIAL: &[([u16; 8], u32, &str)] = &[
    ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "NAT64 (local use)"),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"),
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "Teredo tunnel"),
    ([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48, "benchmarking"),
    ([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28, "ORCHID"),
    ([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28, "ORCHID"),
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique-local (private)"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
];

fn classify_v6(ip: Ipv6Addr) -> Class {
    if ip.is_unspecified() {
        return Class::Special("unspecified");
    }
    if ip.is_loopback() {
        return Class::Loopback;
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    if let Some((_, _, name)) = V6_SPECIAL
        .iter()
        .find(|(network, prefix, _)| in_v6(ip, *network, *prefix))
    {
        return Class::Special(name);
    }
    // Global unicast is 2000::/3; the rest of the space is unassigned or reserved.
    if in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        Class::Public
    } else {
        Class::Special("reserved")
    }
}

/// The IPv4 address an IPv6 address stands for: mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96) || in_v6(ip, [0; 8], 96) {
        return Some(low);
    }
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return Some(low);
    }
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        return Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn class(text: &str) -> Class {
        classify(text.parse().unwrap())
    }

    #[test]
    fn every_special_range_is_named() {
        for (address, expected) in [
            ("127.0.0.1", Class::Loopback),
            ("127.255.0.9", Class::Loopback),
            ("::1", Class::Loopback),
            ("0.0.0.0", Class::Special("unspecified (this network)")),
            ("10.1.2.3", Class::Special("private")),
            ("172.16.0.1", Class::Special("private")),
            ("172.31.255.255", Class::Special("private")),
            ("192.168.1.1", Class::Special("private")),
            (
                "100.100.100.200",
                Class::Special("shared (carrier-grade NAT)"),
            ),
            (
                "169.254.169.254",
                Class::Special("link-local (cloud metadata)"),
            ),
            ("192.0.0.192", Class::Special("IETF protocol assignments")),
            ("224.0.0.1", Class::Special("multicast")),
            ("255.255.255.255", Class::Special("reserved")),
            ("::", Class::Special("unspecified")),
            ("fd00:ec2::254", Class::Special("unique-local (private)")),
            ("fe80::1", Class::Special("link-local")),
            ("ff02::1", Class::Special("multicast")),
            ("2001:db8::1", Class::Special("documentation")),
            ("2001:0:4136:e378::1", Class::Special("Teredo tunnel")),
            // IPv4 inside IPv6 is judged as the IPv4 address it carries.
            ("::ffff:127.0.0.1", Class::Loopback),
            (
                "::ffff:169.254.169.254",
                Class::Special("link-local (cloud metadata)"),
            ),
            ("::ffff:10.0.0.1", Class::Special("private")),
            ("::10.0.0.1", Class::Special("private")),
            (
                "64:ff9b::a9fe:a9fe",
                Class::Special("link-local (cloud metadata)"),
            ),
            ("2002:a00:1::", Class::Special("private")),
            ("2002:7f00:1::", Class::Loopback),
            // Public neighbours of the ranges.
            ("8.8.8.8", Class::Public),
            ("172.32.0.1", Class::Public),
            ("169.253.255.255", Class::Public),
            ("100.128.0.1", Class::Public),
            ("::ffff:8.8.8.8", Class::Public),
            ("2606:4700:4700::1111", Class::Public),
            ("2002:808:808::", Class::Public),
        ] {
            assert_eq!(class(address), expected, "{address}");
        }
    }

    proptest! {
        /// An IPv4 address and each IPv6 form carrying it are always judged alike.
        #[test]
        fn ipv4_in_ipv6_is_judged_as_itself(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from(bits);
            prop_assert_eq!(classify(IpAddr::V6(v4.to_ipv6_mapped())), classify(IpAddr::V4(v4)));
            let nat64 = Ipv6Addr::from((0x64_ff9b_u128 << 96) | u128::from(bits));
            prop_assert_eq!(classify(IpAddr::V6(nat64)), classify(IpAddr::V4(v4)));
            let six_to_four = Ipv6Addr::from((0x2002_u128 << 112) | (u128::from(bits) << 80));
            prop_assert_eq!(classify(IpAddr::V6(six_to_four)), classify(IpAddr::V4(v4)));
        }

        /// Every address of 10/8, 172.16/12, 192.168/16 and 169.254/16 is refused.
        #[test]
        fn private_and_link_local_ranges_are_never_public(host in any::<u32>()) {
            for (network, prefix) in [(0x0a00_0000_u32, 8), (0xac10_0000, 12), (0xc0a8_0000, 16), (0xa9fe_0000, 16)] {
                let ip = Ipv4Addr::from(network | (host >> prefix));
                prop_assert!(matches!(classify(IpAddr::V4(ip)), Class::Special(_)), "{}", ip);
            }
        }
    }
}
