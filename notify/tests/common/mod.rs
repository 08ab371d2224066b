//! What the delivery tests share: a real receiver on loopback, a deliverer allowed to reach it,
//! events with unique ids.
#![allow(dead_code)] // each test binary uses a part

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use routeq_notify::{
    AllowList, Deliverer, DelivererConfig, Delivery, Endpoint, Event, EventFilter, MapResolver,
    Resolve, Schedule, Secret, UrlPolicy,
};
use routeq_receiver::{Receiver, ReceiverConfig, ReceiverHandle};

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A receiver on 127.0.0.1:<free port> verifying with `secret`.
pub async fn receiver(secret: &Secret) -> ReceiverHandle {
    let any = SocketAddr::new(LOOPBACK, 0);
    Receiver::bind(any, ReceiverConfig::new(vec![secret.clone()]))
        .await
        .expect("bind receiver")
        .spawn()
}

/// A deliverer whose policy allows loopback (and nothing else private), a short schedule.
pub fn config() -> DelivererConfig {
    DelivererConfig {
        policy: UrlPolicy::new(AllowList::parse("127.0.0.0/8").unwrap()),
        schedule: "0,100ms,200ms,400ms".parse::<Schedule>().unwrap(),
        ..DelivererConfig::default()
    }
}

pub fn deliverer(config: DelivererConfig) -> Deliverer {
    deliverer_with(config, Arc::new(MapResolver::new()))
}

pub fn deliverer_with(config: DelivererConfig, resolver: Arc<dyn Resolve>) -> Deliverer {
    Deliverer::new(config, resolver)
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A `route.succeeded` event with an id unique in this process.
pub fn event() -> Arc<Event> {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let id = format!("msg_{}_{n}", std::process::id());
    let body = format!(r#"{{"id":"{id}","state":"succeeded","result":{{"distance_m":1234}}}}"#);
    Arc::new(Event::new(id, "route.succeeded", SystemTime::now(), body).unwrap())
}

pub fn endpoint(id: &str, url: &str, secret: &Secret) -> Arc<Endpoint> {
    Arc::new(Endpoint::new(id, url, vec![secret.clone()], EventFilter::all()).unwrap())
}

pub fn delivery(event: &Arc<Event>, endpoint: &Arc<Endpoint>) -> Delivery {
    Delivery {
        event: event.clone(),
        endpoint: endpoint.clone(),
        attempts_made: 0,
    }
}

/// Waits until `cond` holds (checked every 10 ms) or panics after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
