//! No server-side request forgery: every refused address class, names resolving to them
//! (through the injectable resolver), redirects, rebinding, the allowlist; at registration
//! (`UrlPolicy::check_str`) and at delivery (`Deliverer::deliver` against real receivers).

mod common;

use std::net::IpAddr;
use std::sync::Arc;

use common::*;
use routeq_notify::{
    AddrClass, AllowList, DelivererConfig, Failure, MapResolver, Next, Outcome, Secret, SsrfError,
    UrlPolicy,
};
use routeq_receiver::Mode;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// One address per refused class (IPv4, IPv6, IPv4-mapped IPv6 forms).
const REFUSED: &[(&str, AddrClass)] = &[
    ("127.0.0.1", AddrClass::Loopback),
    ("127.255.0.9", AddrClass::Loopback),
    ("::1", AddrClass::Loopback),
    ("10.0.0.1", AddrClass::Private),
    ("172.16.5.4", AddrClass::Private),
    ("192.168.1.1", AddrClass::Private),
    ("fd12:3456::1", AddrClass::Private),
    ("fc00::1", AddrClass::Private),
    ("169.254.1.1", AddrClass::LinkLocal),
    ("fe80::1", AddrClass::LinkLocal),
    ("100.64.0.1", AddrClass::Cgnat),
    ("100.127.255.254", AddrClass::Cgnat),
    ("224.0.0.1", AddrClass::Multicast),
    ("239.255.255.250", AddrClass::Multicast),
    ("ff02::1", AddrClass::Multicast),
    ("0.0.0.0", AddrClass::Unspecified),
    ("::", AddrClass::Unspecified),
    ("255.255.255.255", AddrClass::Broadcast),
    ("192.0.2.10", AddrClass::Documentation),
    ("198.51.100.10", AddrClass::Documentation),
    ("203.0.113.10", AddrClass::Documentation),
    ("2001:db8::1", AddrClass::Documentation),
    ("240.0.0.1", AddrClass::Reserved),
    ("198.18.0.1", AddrClass::Reserved),
    ("169.254.169.254", AddrClass::Metadata),
    ("fd00:ec2::254", AddrClass::Metadata),
    ("::ffff:127.0.0.1", AddrClass::Loopback),
    ("::ffff:10.0.0.1", AddrClass::Private),
    ("::ffff:169.254.169.254", AddrClass::Metadata),
    ("::ffff:100.64.0.1", AddrClass::Cgnat),
];

fn literal_url(addr: &str) -> String {
    match ip(addr) {
        IpAddr::V4(v4) => format!("http://{v4}:8080/hook"),
        IpAddr::V6(v6) => format!("http://[{v6}]:8080/hook"),
    }
}

#[tokio::test]
async fn every_refused_class_as_a_literal_and_behind_a_name() {
    let policy = UrlPolicy::default();
    let resolver = MapResolver::new();
    for (addr, class) in REFUSED {
        let url = literal_url(addr);
        match policy.check_str(&url, &resolver).await {
            Err(SsrfError::Refused { class: got, .. }) => assert_eq!(got, *class, "{url}"),
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
        let name = format!("h{}.example.test", addr.replace([':', '.'], "-"));
        resolver.set(&name, &[ip(addr)]);
        let url = format!("https://{name}/hook");
        let err = policy.check_str(&url, &resolver).await.unwrap_err();
        assert_eq!(err.code(), "url_refused_address", "{url}");
        assert!(
            matches!(err, SsrfError::Refused { class: got, .. } if got == *class),
            "{url}: {err}"
        );
    }
    assert_eq!(
        resolver.lookups(),
        REFUSED.len() as u64,
        "one lookup per name check"
    );
}

#[tokio::test]
async fn one_bad_address_among_good_ones_refuses_the_name() {
    let policy = UrlPolicy::default();
    let resolver = MapResolver::new()
        .with(
            "mixed.example.test",
            &[ip("93.184.216.34"), ip("10.1.2.3"), ip("2606:4700::1")],
        )
        .with(
            "public.example.test",
            &[ip("93.184.216.34"), ip("2606:4700::1")],
        );
    let err = policy
        .check_str("https://mixed.example.test/", &resolver)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SsrfError::Refused { addr, .. } if addr == ip("10.1.2.3")),
        "{err}"
    );
    let target = policy
        .check_str("https://public.example.test:8443/x", &resolver)
        .await
        .unwrap();
    let addrs: Vec<String> = target.addrs.iter().map(ToString::to_string).collect();
    assert_eq!(addrs, ["93.184.216.34:8443", "[2606:4700::1]:8443"]);
    // Unknown names and empty answers are resolution failures, not refusals.
    let nx = policy
        .check_str("https://nx.example.test/", &resolver)
        .await
        .unwrap_err();
    assert_eq!(nx.code(), "url_unresolvable");
    resolver.set("empty.example.test", &[]);
    let empty = policy
        .check_str("https://empty.example.test/", &resolver)
        .await
        .unwrap_err();
    assert_eq!(empty, SsrfError::NoAddress("empty.example.test".into()));
}

#[tokio::test]
async fn metadata_is_refused_by_name_by_address_and_even_when_allowlisted() {
    let allow_all = UrlPolicy::new(AllowList::parse("0.0.0.0/0 ::/0").unwrap());
    let resolver = MapResolver::new().with("imds.example.test", &[ip("169.254.169.254")]);
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://imds.example.test/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ] {
        let err = allow_all.check_str(url, &resolver).await.unwrap_err();
        assert!(
            matches!(err.code(), "url_refused_address" | "url_blocked_host"),
            "{url}: {err}"
        );
    }
    // The same allowlist does let a private address through: it is the metadata rule that held.
    assert!(
        allow_all
            .check_str("http://10.0.0.1/", &resolver)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_allowlist_opens_exactly_what_it_names() {
    let resolver = MapResolver::new().with("localhost", &[ip("127.0.0.1"), ip("::1")]);
    let by_port = UrlPolicy::new(AllowList::parse("localhost:9000 10.0.0.7:80").unwrap());
    assert!(
        by_port
            .check_str("http://localhost:9000/", &resolver)
            .await
            .is_ok()
    );
    assert!(
        by_port
            .check_str("http://localhost:9001/", &resolver)
            .await
            .is_err()
    );
    assert!(
        by_port
            .check_str("http://127.0.0.1:9000/", &resolver)
            .await
            .is_err(),
        "host:port names the host"
    );
    assert!(
        by_port
            .check_str("http://10.0.0.7/", &resolver)
            .await
            .is_ok()
    );
    assert!(
        by_port
            .check_str("http://10.0.0.8/", &resolver)
            .await
            .is_err()
    );
    let v4_only = UrlPolicy::new(AllowList::parse("127.0.0.0/8").unwrap());
    let err = v4_only
        .check_str("http://localhost:9000/", &resolver)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SsrfError::Refused { addr, .. } if addr == ip("::1")),
        "::1 is not in 127/8"
    );
}

/// At delivery: a name that now resolves to a private address is refused without connecting,
/// and the connection otherwise goes to the checked address (the client has no resolver of its
/// own: `hook.example.test` exists only in the injected map).
#[tokio::test]
async fn at_delivery_the_name_is_checked_again_and_connected_as_checked() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let port = rx.local_addr().port();
    let resolver = Arc::new(MapResolver::new().with("hook.example.test", &[LOOPBACK]));
    let config = DelivererConfig {
        policy: UrlPolicy::new(AllowList::parse(&format!("127.0.0.1:{port}")).unwrap()),
        ..config()
    };
    let d = deliverer_with(config, resolver.clone());
    let ep = endpoint(
        "ep_rebind",
        &format!("http://hook.example.test:{port}/in"),
        &secret,
    );

    let first = d.deliver(&delivery(&event(), &ep)).await;
    assert_eq!(first.outcome, Outcome::Delivered { status: 200 });
    assert_eq!(resolver.lookups(), 1, "one lookup per delivery");

    // DNS rebinding: the name now answers a private address.
    resolver.set("hook.example.test", &[ip("10.0.0.1")]);
    let second = d.deliver(&delivery(&event(), &ep)).await;
    match &second.outcome {
        Outcome::Failed(Failure::Address(SsrfError::Refused { class, .. })) => {
            assert_eq!(*class, AddrClass::Private)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        second.next,
        Next::DeadLetter,
        "a refused address is permanent"
    );
    assert_eq!(resolver.lookups(), 2);
    assert_eq!(
        rx.stats().requests,
        1,
        "the refused delivery never connected"
    );
}

#[tokio::test]
async fn loopback_is_refused_at_delivery_without_the_allowlist() {
    let secret = Secret::generate().unwrap();
    let rx = receiver(&secret).await;
    let d = deliverer(DelivererConfig {
        policy: UrlPolicy::default(),
        ..config()
    });
    let ep = endpoint("ep_lo", &rx.url("/in"), &secret);
    let report = d.deliver(&delivery(&event(), &ep)).await;
    assert_eq!(report.outcome.class(), "refused", "{report:?}");
    assert_eq!(rx.stats().requests, 0);
}

/// A 3xx is a failed attempt, never followed: neither to a private address nor to another
/// (allowlisted) receiver on loopback.
#[tokio::test]
async fn redirects_are_not_followed() {
    let secret = Secret::generate().unwrap();
    let (rx, elsewhere) = (receiver(&secret).await, receiver(&secret).await);
    let d = deliverer(config());
    let ep = endpoint("ep_redirect", &rx.url("/in"), &secret);
    for location in [
        "http://10.0.0.1/steal",
        "http://169.254.169.254/latest/meta-data/",
        &elsewhere.url("/in"),
    ] {
        rx.set_mode(Mode {
            status: Some(302),
            location: Some(location.to_string()),
            ..Mode::default()
        });
        let report = d.deliver(&delivery(&event(), &ep)).await;
        match &report.outcome {
            Outcome::Failed(Failure::Redirect {
                status: 302,
                location: Some(l),
            }) => assert_eq!(l, location),
            other => panic!("expected a redirect failure, got {other:?}"),
        }
        assert!(
            matches!(report.next, Next::RetryIn(_)),
            "a 3xx is retried: {report:?}"
        );
    }
    for status in [301, 303, 307, 308] {
        rx.set_mode(Mode {
            status: Some(status),
            location: Some(elsewhere.url("/in")),
            ..Mode::default()
        });
        let report = d.deliver(&delivery(&event(), &ep)).await;
        assert_eq!(report.outcome.class(), "3xx", "{status}: {report:?}");
    }
    assert_eq!(rx.stats().requests, 7);
    assert_eq!(elsewhere.stats().requests, 0, "no redirect was followed");
}
