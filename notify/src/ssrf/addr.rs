//! What an IP address is, for the delivery policy: public (deliverable) or one of the classes a
//! webhook must never reach. Ranges from the IANA special-purpose registries (RFC 6890 and
//! successors); an IPv6 address that embeds an IPv4 one (mapped `::ffff:a.b.c.d`, NAT64
//! `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the IPv4 address it reaches.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// The class of an address. Everything but [`AddrClass::Public`] is refused unless allowlisted;
/// [`AddrClass::Metadata`] is refused even then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrClass {
    Public,
    Loopback,
    /// RFC 1918, IPv6 unique local (fc00::/7) and deprecated site-local (fec0::/10).
    Private,
    LinkLocal,
    /// Carrier-grade NAT, 100.64.0.0/10 (RFC 6598).
    Cgnat,
    Multicast,
    /// 0.0.0.0/8 and `::`.
    Unspecified,
    Broadcast,
    Documentation,
    /// Benchmarking, protocol assignments, the future-use 240/4, discard-only, Teredo, NAT64
    /// local use, IPv4-compatible IPv6: nothing a receiver legitimately sits on.
    Reserved,
    /// A cloud instance-metadata service (AWS, GCP, Azure, Alibaba, ECS/EKS).
    Metadata,
}

impl AddrClass {
    /// A stable label (metrics, error codes, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            AddrClass::Public => "public",
            AddrClass::Loopback => "loopback",
            AddrClass::Private => "private",
            AddrClass::LinkLocal => "link_local",
            AddrClass::Cgnat => "cgnat",
            AddrClass::Multicast => "multicast",
            AddrClass::Unspecified => "unspecified",
            AddrClass::Broadcast => "broadcast",
            AddrClass::Documentation => "documentation",
            AddrClass::Reserved => "reserved",
            AddrClass::Metadata => "metadata",
        }
    }
}

/// Instance-metadata endpoints, checked before the ranges that contain them.
const METADATA_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP (metadata.google.internal), Azure, OpenStack
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
    Ipv4Addr::new(169, 254, 170, 23),  // AWS EKS pod identity
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
];
const METADATA_V6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), // AWS IMDS over IPv6
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23),  // AWS EKS pod identity over IPv6
];

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> (Ipv4Addr, u8) {
    (Ipv4Addr::new(a, b, c, d), len)
}

/// The IPv4 ranges in check order (the broadcast address before the 240/4 it sits in).
const V4_RANGES: [((Ipv4Addr, u8), AddrClass); 16] = [
    (v4(255, 255, 255, 255, 32), AddrClass::Broadcast),
    (v4(0, 0, 0, 0, 8), AddrClass::Unspecified),
    (v4(10, 0, 0, 0, 8), AddrClass::Private),
    (v4(100, 64, 0, 0, 10), AddrClass::Cgnat),
    (v4(127, 0, 0, 0, 8), AddrClass::Loopback),
    (v4(169, 254, 0, 0, 16), AddrClass::LinkLocal),
    (v4(172, 16, 0, 0, 12), AddrClass::Private),
    (v4(192, 0, 0, 0, 24), AddrClass::Reserved),
    (v4(192, 0, 2, 0, 24), AddrClass::Documentation),
    (v4(192, 88, 99, 0, 24), AddrClass::Reserved),
    (v4(192, 168, 0, 0, 16), AddrClass::Private),
    (v4(198, 18, 0, 0, 15), AddrClass::Reserved),
    (v4(198, 51, 100, 0, 24), AddrClass::Documentation),
    (v4(203, 0, 113, 0, 24), AddrClass::Documentation),
    (v4(224, 0, 0, 0, 4), AddrClass::Multicast),
    (v4(240, 0, 0, 0, 4), AddrClass::Reserved),
];

const fn v6(segments: [u16; 8], len: u8) -> (Ipv6Addr, u8) {
    let [a, b, c, d, e, f, g, h] = segments;
    (Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

/// The IPv6 ranges that do not embed an IPv4 address, in check order.
const V6_RANGES: [((Ipv6Addr, u8), AddrClass); 10] = [
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), AddrClass::Unspecified),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), AddrClass::Loopback),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), AddrClass::Reserved), // discard-only
    (
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        AddrClass::Reserved,
    ), // NAT64 local use
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), AddrClass::Reserved), // Teredo
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        AddrClass::Documentation,
    ),
    (
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        AddrClass::Documentation,
    ),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), AddrClass::Private),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), AddrClass::LinkLocal),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), AddrClass::Private),
];

fn in_v4(ip: Ipv4Addr, (net, len): (Ipv4Addr, u8)) -> bool {
    Ipv4Net::new(net, len).is_ok_and(|n| n.contains(&ip))
}

fn in_v6(ip: Ipv6Addr, (net, len): (Ipv6Addr, u8)) -> bool {
    Ipv6Net::new(net, len).is_ok_and(|n| n.contains(&ip))
}

/// The class of `ip`.
pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(ip) => classify_v4(ip),
        IpAddr::V6(ip) => classify_v6(ip),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    if METADATA_V4.contains(&ip) {
        return AddrClass::Metadata;
    }
    V4_RANGES
        .iter()
        .find(|(range, _)| in_v4(ip, *range))
        .map_or(AddrClass::Public, |(_, class)| *class)
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    if METADATA_V6.contains(&ip) {
        return AddrClass::Metadata;
    }
    if let Some(inner) = embedded_v4(ip) {
        return classify_v4(inner);
    }
    if let Some((_, class)) = V6_RANGES.iter().find(|(range, _)| in_v6(ip, *range)) {
        return *class;
    }
    if ip.is_multicast() {
        return AddrClass::Multicast;
    }
    // IPv4-compatible (::a.b.c.d, deprecated) after :: and ::1 were matched above.
    if in_v6(ip, v6([0; 8], 96)) {
        return AddrClass::Reserved;
    }
    AddrClass::Public
}

/// The IPv4 address an IPv6 address delivers to, for the forms that embed one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(mapped) = ip.to_ipv4_mapped() {
        return Some(mapped);
    }
    let s = ip.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if in_v6(ip, v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)) {
        return Some(low(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(low(s[1], s[2]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> AddrClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(c(ip), AddrClass::Public, "{ip}");
        }
    }

    #[test]
    fn boundaries_of_ranges() {
        assert_eq!(c("100.63.255.255"), AddrClass::Public);
        assert_eq!(c("100.64.0.0"), AddrClass::Cgnat);
        assert_eq!(c("100.127.255.255"), AddrClass::Cgnat);
        assert_eq!(c("100.128.0.0"), AddrClass::Public);
        assert_eq!(c("172.15.255.255"), AddrClass::Public);
        assert_eq!(c("172.31.255.255"), AddrClass::Private);
        assert_eq!(c("172.32.0.0"), AddrClass::Public);
        assert_eq!(c("169.254.169.253"), AddrClass::LinkLocal);
        assert_eq!(c("169.254.169.254"), AddrClass::Metadata);
        assert_eq!(c("255.255.255.254"), AddrClass::Reserved);
        assert_eq!(c("255.255.255.255"), AddrClass::Broadcast);
        assert_eq!(c("fd00:ec2::254"), AddrClass::Metadata);
        assert_eq!(c("fd00:ec2::255"), AddrClass::Private);
        assert_eq!(c("fbff:ffff::1"), AddrClass::Public);
    }

    #[test]
    fn embedded_ipv4_is_judged_by_its_target() {
        assert_eq!(c("::ffff:127.0.0.1"), AddrClass::Loopback);
        assert_eq!(c("::ffff:169.254.169.254"), AddrClass::Metadata);
        assert_eq!(c("::ffff:10.1.2.3"), AddrClass::Private);
        assert_eq!(c("64:ff9b::a00:1"), AddrClass::Private);
        assert_eq!(c("2002:7f00:1::"), AddrClass::Loopback);
        assert_eq!(c("::10.0.0.1"), AddrClass::Reserved);
    }
}
