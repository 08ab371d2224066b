//! The explicit allowlist that lets development and tests deliver to addresses the policy
//! refuses otherwise (typically a receiver on loopback). Entries:
//! - a CIDR or a bare address: `127.0.0.0/8`, `::1`, `10.1.2.3` (any port);
//! - an address and port: `127.0.0.1:9000`, `[::1]:9000`;
//! - a host name and port: `localhost:9000` (every address that name resolves to, that port only).
//!
//! A cloud metadata address is never allowed, whatever the list says.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// One allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    Net(IpNet),
    Socket(SocketAddr),
    HostPort(String, u16),
}

/// Why an allowlist entry was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("allowlist entry {0:?} is neither a CIDR, an address, address:port nor host:port")]
pub struct AllowEntryError(pub String);

impl FromStr for AllowEntry {
    type Err = AllowEntryError;

    fn from_str(text: &str) -> Result<AllowEntry, AllowEntryError> {
        let text = text.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(AllowEntry::Net(net));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(AllowEntry::Net(IpNet::from(ip)));
        }
        if let Ok(sock) = text.parse::<SocketAddr>() {
            return Ok(AllowEntry::Socket(sock));
        }
        let bad = || AllowEntryError(text.to_string());
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let valid = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !valid {
            return Err(bad());
        }
        Ok(AllowEntry::HostPort(host, port))
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowEntry::Net(net) => write!(f, "{net}"),
            AllowEntry::Socket(sock) => write!(f, "{sock}"),
            AllowEntry::HostPort(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

/// The allowlist: empty in production.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<AllowEntry>,
}

impl AllowList {
    pub fn new(entries: Vec<AllowEntry>) -> AllowList {
        AllowList { entries }
    }

    /// Parses a comma- or space-separated list (a flag's value).
    pub fn parse(text: &str) -> Result<AllowList, AllowEntryError> {
        let entries = text
            .split([',', ' '])
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AllowList { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[AllowEntry] {
        &self.entries
    }

    /// True when an otherwise refused `addr` reached as `host` (the URL's host, lowercase) is
    /// allowed. The caller never asks for a metadata address.
    pub fn permits(&self, host: &str, addr: SocketAddr) -> bool {
        let host = host.trim_end_matches('.');
        self.entries.iter().any(|entry| match entry {
            AllowEntry::Net(net) => net.contains(&addr.ip()),
            AllowEntry::Socket(sock) => *sock == addr,
            AllowEntry::HostPort(h, p) => h == host && *p == addr.port(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let list =
            AllowList::parse("127.0.0.0/8, ::1 10.0.0.5:8080,[::1]:9000 localhost.:9000").unwrap();
        let shown: Vec<String> = list.entries().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "127.0.0.0/8",
                "::1/128",
                "10.0.0.5:8080",
                "[::1]:9000",
                "localhost:9000"
            ]
        );
        assert!(AllowList::parse("").unwrap().is_empty());
        assert!(AllowList::parse("local host:1").is_err());
        assert!(AllowList::parse("localhost").is_err());
        assert!(AllowList::parse("localhost:99999").is_err());
        assert!(AllowList::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn permits_by_net_socket_and_host_port() {
        let list = AllowList::parse("127.0.0.0/8 10.0.0.5:8080 localhost:9000").unwrap();
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(list.permits("x", at("127.1.2.3:1")));
        assert!(list.permits("x", at("10.0.0.5:8080")));
        assert!(!list.permits("x", at("10.0.0.5:8081")));
        assert!(list.permits("localhost", at("[::1]:9000")));
        assert!(list.permits("localhost.", at("[::1]:9000")));
        assert!(!list.permits("localhost", at("[::1]:9001")));
        assert!(!list.permits("other", at("[::1]:9000")));
    }
}
