//! Where Redis is, from one URL (so `--redis-url`, `ROUTEQ_REDIS_URL_FILE` and `ENC(...)` work
//! the same for every topology):
//!
//! | URL | topology |
//! | --- | --- |
//! | `redis://[user:password@]host[:port][/db]` | one server |
//! | `redis+sentinel://[user:password@]s1:26379,s2:26379,s3:26379/<master>[/db][?sentinel_password=…&sentinel_username=…]` | the master a Sentinel majority names |
//! | `redis+cluster://[user:password@]n1:7000,n2:7001,…` | a Redis Cluster, from seed nodes |
//!
//! The user and password are the data nodes'; Sentinel's own credentials, when it has any, go in
//! the query. Passwords never print (`Debug` and `Display` redact them).

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

/// The three topologies routeq runs on.
#[derive(Clone)]
pub enum Topology {
    Standalone(ConnectionInfo),
    Sentinel {
        sentinels: Vec<(String, u16)>,
        master: String,
        /// The data nodes' credentials and database.
        node: RedisConnectionInfo,
        /// Sentinel's own credentials (user, password).
        sentinel_auth: Option<(Option<String>, String)>,
    },
    Cluster {
        seeds: Vec<(String, u16)>,
        /// The nodes' credentials.
        node: RedisConnectionInfo,
    },
}

impl Topology {
    pub fn name(&self) -> &'static str {
        match self {
            Topology::Standalone(_) => "standalone",
            Topology::Sentinel { .. } => "sentinel",
            Topology::Cluster { .. } => "cluster",
        }
    }
}

/// A Redis URL; its `Debug` and `Display` hide any password it carries.
#[derive(Clone)]
pub struct RedisUrl {
    text: String,
    topology: Topology,
}

impl std::str::FromStr for RedisUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = crate::secrets::reveal(s).map_err(|e| e.to_string())?;
        let text = s.trim().to_string();
        let topology = parse(&text)?;
        Ok(RedisUrl { text, topology })
    }
}

impl RedisUrl {
    pub fn expose(&self) -> &str {
        &self.text
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The URL with any user info (and Sentinel's password) replaced by `***`.
    pub fn redacted(&self) -> String {
        let t = &self.text;
        let mut out = match (t.find("://"), t.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                format!("{}***{}", &t[..scheme_end + 3], &t[at..])
            }
            _ => t.clone(),
        };
        if let Some(q) = out.find('?') {
            out.truncate(q);
            out.push_str("?***");
        }
        out
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({})", self.redacted())
    }
}

impl std::fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn parse(text: &str) -> Result<Topology, String> {
    let (scheme, rest) = text
        .split_once("://")
        .ok_or("not a Redis URL: redis://, redis+sentinel:// or redis+cluster://")?;
    match scheme {
        "redis" | "rediss" | "unix" | "redis+unix" => {
            let info = text
                .into_connection_info()
                .map_err(|e| format!("not a Redis URL: {}", kind(&e)))?;
            Ok(Topology::Standalone(info))
        }
        "redis+sentinel" => {
            let (node, hosts, path, query) = split(rest)?;
            let mut parts = path.split('/').filter(|p| !p.is_empty());
            let master = parts
                .next()
                .ok_or("redis+sentinel:// needs the master's name as its path: …/<master>")?
                .to_string();
            let node = match parts.next() {
                Some(db) => node.set_db(db.parse().map_err(|_| "the database must be a number")?),
                None => node,
            };
            let mut user = None;
            let mut password = None;
            for (k, v) in query {
                match k {
                    "sentinel_password" => password = Some(v.to_string()),
                    "sentinel_username" => user = Some(v.to_string()),
                    _ => return Err(format!("unknown redis+sentinel:// parameter {k:?}")),
                }
            }
            Ok(Topology::Sentinel {
                sentinels: hosts_of(hosts, 26379)?,
                master,
                node,
                sentinel_auth: password.map(|p| (user, p)),
            })
        }
        "redis+cluster" => {
            let (node, hosts, path, query) = split(rest)?;
            if !path.trim_matches('/').is_empty() {
                return Err(
                    "redis+cluster:// takes no path (a cluster has only database 0)".into(),
                );
            }
            if let Some((k, _)) = query.first() {
                return Err(format!("unknown redis+cluster:// parameter {k:?}"));
            }
            Ok(Topology::Cluster {
                seeds: hosts_of(hosts, 6379)?,
                node,
            })
        }
        other => Err(format!(
            "unknown Redis URL scheme {other:?}: use redis://, redis+sentinel:// or redis+cluster://"
        )),
    }
}

type Parts<'a> = (
    RedisConnectionInfo,
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
);

/// `[user:password@]hosts[/path][?query]`.
fn split(rest: &str) -> Result<Parts<'_>, String> {
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, q),
        None => (rest, ""),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let mut node = RedisConnectionInfo::default();
    if let Some(ui) = userinfo {
        let (user, password) = match ui.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (ui, None),
        };
        if !user.is_empty() {
            node = node.set_username(decode(user)?);
        }
        if let Some(p) = password.filter(|p| !p.is_empty()) {
            node = node.set_password(decode(p)?);
        }
    }
    let query = query
        .split('&')
        .filter(|q| !q.is_empty())
        .map(|q| q.split_once('=').unwrap_or((q, "")))
        .collect();
    Ok((node, hosts, path, query))
}

/// Percent-decoding of user info (`%40` → `@`).
fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("a bad %-escape in the URL")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "a bad %-escape in the URL")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the URL's user info is not UTF-8".to_string())
}

fn hosts_of(hosts: &str, default_port: u16) -> Result<Vec<(String, u16)>, String> {
    let out: Result<Vec<_>, String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| match h.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() => port
                .parse::<u16>()
                .map(|p| (host.trim_matches(['[', ']']).to_string(), p))
                .map_err(|_| format!("{h:?} has no valid port")),
            _ => Ok((h.to_string(), default_port)),
        })
        .collect();
    let out = out?;
    if out.is_empty() {
        return Err("the URL names no host".into());
    }
    Ok(out)
}

fn kind(e: &redis::RedisError) -> &'static str {
    match e.kind() {
        redis::ErrorKind::InvalidClientConfig => "invalid client configuration",
        _ => "unparsable",
    }
}

/// A node's connection info: its address, the topology's credentials and database.
pub fn node_info(
    host: &str,
    port: u16,
    node: &RedisConnectionInfo,
) -> redis::RedisResult<ConnectionInfo> {
    Ok(ConnectionAddr::Tcp(host.to_string(), port)
        .into_connection_info()?
        .set_redis_settings(node.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topology_parses_and_no_password_prints() {
        let u: RedisUrl = "redis://:hunter2-secret@127.0.0.1:6379/0"
            .parse()
            .expect("url");
        assert_eq!(u.topology().name(), "standalone");
        assert!(!format!("{u:?}{u}").contains("hunter2"));

        let s: RedisUrl =
            "redis+sentinel://:pw-x@10.0.0.1:26379,10.0.0.2,h3:5000/routeq/2?sentinel_password=sp-y"
                .parse()
                .expect("sentinel url");
        match s.topology() {
            Topology::Sentinel {
                sentinels,
                master,
                node,
                sentinel_auth,
            } => {
                assert_eq!(sentinels.len(), 3);
                assert_eq!(sentinels[1], ("10.0.0.2".to_string(), 26379));
                assert_eq!(sentinels[2], ("h3".to_string(), 5000));
                assert_eq!(master, "routeq");
                assert_eq!((node.password(), node.db()), (Some("pw-x"), 2));
                assert_eq!(sentinel_auth.as_ref().map(|a| a.1.as_str()), Some("sp-y"));
            }
            _ => panic!("not sentinel"),
        }
        assert!(!format!("{s}").contains("pw-x") && !format!("{s}").contains("sp-y"));

        let c: RedisUrl = "redis+cluster://u:p%40ss@n1:7000,n2:7001"
            .parse()
            .expect("cluster");
        match c.topology() {
            Topology::Cluster { seeds, node } => {
                assert_eq!(seeds.len(), 2);
                assert_eq!(
                    (node.username(), node.password()),
                    (Some("u"), Some("p@ss"))
                );
            }
            _ => panic!("not cluster"),
        }
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        for bad in [
            "not a url",
            "http://x",
            "redis+sentinel://h1,h2",
            "redis+sentinel://h1/m?bogus=1",
            "redis+cluster://h1:notaport",
            "redis+cluster://h1/3",
            "redis+cluster://",
        ] {
            assert!(bad.parse::<RedisUrl>().is_err(), "{bad} was accepted");
        }
    }
}
