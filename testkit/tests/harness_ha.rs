//! The HA harness itself, against real `redis-server` processes: a Sentinel group replicates and
//! fails over (killed master, requested failover), a cluster spreads hash tags over its three
//! masters and a replica takes over a killed one, and the TCP proxy forwards, cuts and stalls a
//! real Redis connection. Each test prints the times it saw (`--no-capture` shows them).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, AsyncConnectionConfig, RedisResult};
use routeq_testkit::redis::node_client;
use routeq_testkit::{PrivateRedis, RedisCluster, SentinelGroup, TcpProxy};

/// A connection whose calls give up after `timeout`.
async fn connect(client: &redis::Client, timeout: Duration) -> RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(timeout));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

async fn conn(client: &redis::Client) -> MultiplexedConnection {
    connect(client, Duration::from_secs(2))
        .await
        .expect("connect")
}

async fn ping(c: &mut MultiplexedConnection) -> RedisResult<String> {
    redis::cmd("PING").query_async(c).await
}

async fn wait_replicas(c: &mut MultiplexedConnection, n: i64) -> i64 {
    redis::cmd("WAIT")
        .arg(n)
        .arg(1000)
        .query_async(c)
        .await
        .expect("WAIT")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_group_replicates_and_elects_a_new_master_when_the_master_is_killed() {
    let t = Instant::now();
    let mut group = SentinelGroup::start().await;
    eprintln!("sentinel group converged in {:?}", t.elapsed());
    let url = group.url();
    let hosts: Vec<String> = group
        .sentinel_addrs()
        .iter()
        .map(|(h, p)| format!("{h}:{p}"))
        .collect();
    assert_eq!(hosts.len(), 3);
    assert_eq!(
        url,
        format!("redis+sentinel://{}/routeq-master", hosts.join(","))
    );
    let master = group.master_port().await;
    assert_eq!(
        master,
        group.data_ports()[0],
        "the first data node starts as master"
    );
    let replicas = group.replica_ports().await;
    assert_eq!(replicas.len(), 2);

    let mut m = conn(&group.client(master)).await;
    let () = m.set("k", "v1").await.expect("SET on the master");
    assert_eq!(wait_replicas(&mut m, 2).await, 2, "both replicas acked");
    for &r in &replicas {
        let mut c = conn(&group.client(r)).await;
        let v: String = c.get("k").await.expect("GET on a replica");
        assert_eq!(v, "v1");
        let refused: RedisResult<()> = c.set("k", "x").await;
        assert!(refused.is_err(), "a replica refuses writes");
    }

    let t = Instant::now();
    let old = group.kill_master().await;
    assert_eq!(old, master);
    let new = group
        .wait_for_new_master(old, Duration::from_secs(15))
        .await;
    eprintln!("new master {new} {:?} after kill_master", t.elapsed());
    assert!(replicas.contains(&new), "a replica was promoted");
    let mut n = conn(&group.client(new)).await;
    let v: String = n.get("k").await.expect("GET on the new master");
    assert_eq!(v, "v1", "the acked write survived");
    let () = n.set("k", "v2").await.expect("SET on the new master");

    let t = Instant::now();
    group.restart(old).await;
    eprintln!(
        "killed master back as an in-sync replica in {:?}",
        t.elapsed()
    );
    assert_eq!(group.role(old).await.as_deref(), Some("slave"));
    let v: String = conn(&group.client(old)).await.get("k").await.expect("GET");
    assert_eq!(v, "v2", "the restarted node synced from the new master");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_group_stops_sets_and_fails_over_on_request_with_the_old_master_alive() {
    let group = SentinelGroup::builder()
        .password("s3cret pass")
        .master_name("orders")
        .start()
        .await;
    assert!(group.url().ends_with("/orders"), "{}", group.url());
    let master = group.master_port().await;
    let anonymous: RedisResult<String> = ping(&mut conn(&node_client(master, None)).await).await;
    let err = anonymous.expect_err("a data node requires the password");
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");

    // A stopped replica keeps its socket and answers nothing; resumed, it answers again.
    let replica = group.replica_ports().await[0];
    let mut r = connect(&group.client(replica), Duration::from_millis(300))
        .await
        .expect("connect");
    group.stop(replica);
    let t = Instant::now();
    let hung = ping(&mut r)
        .await
        .expect_err("a stopped node does not answer");
    assert!(hung.is_timeout(), "{hung}");
    assert!(t.elapsed() >= Duration::from_millis(250));
    group.resume(replica);
    assert_eq!(ping(&mut r).await.expect("PING after resume"), "PONG");

    group.set(master, "min-replicas-to-write", "1").await;
    let mut m = conn(&group.client(master)).await;
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("min-replicas-to-write")
        .query_async(&mut m)
        .await
        .expect("CONFIG GET");
    assert_eq!(got, ["min-replicas-to-write", "1"]);

    let t = Instant::now();
    group.failover().await;
    let new = group
        .wait_for_new_master(master, Duration::from_secs(15))
        .await;
    eprintln!("new master {new} {:?} after SENTINEL FAILOVER", t.elapsed());
    assert_ne!(new, master);
    assert_eq!(
        ping(&mut conn(&group.client(master)).await)
            .await
            .expect("PING"),
        "PONG",
        "the old master is still alive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_spreads_hash_tags_over_three_masters_and_a_replica_replaces_a_killed_one() {
    let t = Instant::now();
    let mut cluster = RedisCluster::start().await;
    eprintln!("cluster created and ready in {:?}", t.elapsed());
    let seeds = cluster.seeds();
    assert_eq!(seeds.len(), 6);
    assert_eq!(
        cluster.url(),
        format!("redis+cluster://{}", seeds[..3].join(","))
    );
    let masters = cluster.masters().await;
    let replicas = cluster.replicas().await;
    assert_eq!((masters.len(), replicas.len()), (3, 3));
    assert!(masters.iter().all(|m| !replicas.contains(m)));

    // The first hash tags that land on each of the three masters.
    let mut key_of: BTreeMap<u16, String> = BTreeMap::new();
    for i in 0..200 {
        let key = format!("{{tag{i}}}:k");
        key_of.entry(cluster.owner_of(&key).await).or_insert(key);
    }
    assert_eq!(key_of.keys().copied().collect::<Vec<_>>(), masters);
    for (&owner, key) in &key_of {
        let mut c = conn(&cluster.client(owner)).await;
        let () = c.set(key, owner).await.expect("SET on the owner");
        assert_eq!(wait_replicas(&mut c, 1).await, 1, "its replica acked");
        let other = masters
            .iter()
            .find(|m| **m != owner)
            .copied()
            .expect("another master");
        let moved: RedisResult<String> = conn(&cluster.client(other)).await.get(key).await;
        let err = moved.expect_err("another master redirects");
        let to = err.redirect_node().map(|(addr, _)| addr.to_string());
        assert_eq!(to, Some(format!("127.0.0.1:{owner}")), "{err}");
    }
    for &m in &masters {
        assert!(cluster.node_cpu_seconds(m).await > 0.0);
    }

    let (&victim, key) = key_of.iter().next().expect("a key");
    let heir = cluster
        .replica_of(victim)
        .await
        .expect("the victim's replica");
    // A stopped replica (not the heir) answers nothing, then answers again.
    let bystander = replicas
        .iter()
        .find(|r| **r != heir)
        .copied()
        .expect("a replica");
    let mut b = connect(&cluster.client(bystander), Duration::from_millis(300))
        .await
        .expect("connect");
    cluster.stop(bystander);
    assert!(ping(&mut b).await.expect_err("stopped").is_timeout());
    cluster.resume(bystander);
    assert_eq!(ping(&mut b).await.expect("PING after resume"), "PONG");

    let t = Instant::now();
    cluster.kill(victim);
    cluster.wait_ok(Duration::from_secs(15)).await;
    eprintln!(
        "replica {heir} took over killed master {victim} in {:?}",
        t.elapsed()
    );
    assert_eq!(cluster.owner_of(key).await, heir);
    let masters_after = cluster.masters().await;
    assert!(masters_after.contains(&heir) && !masters_after.contains(&victim));
    let v: u16 = conn(&cluster.client(heir))
        .await
        .get(key)
        .await
        .expect("GET");
    assert_eq!(v, victim, "the acked write survived the failover");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_forwards_then_stalls_silently_then_cuts_a_redis_connection() {
    let redis = PrivateRedis::start();
    let proxy = TcpProxy::start(([127, 0, 0, 1], redis.port).into()).await;
    let via_proxy = node_client(proxy.port(), None);
    let mut direct = conn(&node_client(redis.port, None)).await;
    let clients = |info: String| -> u32 {
        routeq_testkit::redis::info_field(&info, "connected_clients")
            .and_then(|v| v.parse().ok())
            .expect("connected_clients")
    };
    let connected = async |direct: &mut MultiplexedConnection| -> u32 {
        clients(
            redis::cmd("INFO")
                .arg("clients")
                .query_async(direct)
                .await
                .expect("INFO"),
        )
    };

    let mut c = connect(&via_proxy, Duration::from_millis(300))
        .await
        .expect("connect");
    let () = c.set("through", "proxy").await.expect("SET via the proxy");
    let v: String = direct.get("through").await.expect("GET");
    assert_eq!(v, "proxy");
    assert_eq!(proxy.connections(), 1);

    proxy.stall();
    let t = Instant::now();
    let err = ping(&mut c)
        .await
        .expect_err("a stalled path answers nothing");
    assert!(err.is_timeout(), "{err}");
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(proxy.connections(), 1, "the stalled connection stays open");
    assert_eq!(
        connected(&mut direct).await,
        2,
        "and so does its upstream side"
    );
    proxy.restore();
    assert_eq!(ping(&mut c).await.expect("PING after restore"), "PONG");

    proxy.cut().await;
    assert_eq!(proxy.connections(), 0);
    assert!(ping(&mut c).await.is_err(), "a cut connection fails");
    let until = Instant::now() + Duration::from_secs(2);
    while connected(&mut direct).await != 1 {
        assert!(Instant::now() < until, "the upstream side was not closed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    match connect(&via_proxy, Duration::from_millis(300)).await {
        Err(_) => {}
        Ok(mut refused) => assert!(ping(&mut refused).await.is_err(), "new connections fail"),
    }
    assert_eq!(proxy.connections(), 0);

    proxy.restore();
    let mut again = connect(&via_proxy, Duration::from_millis(300))
        .await
        .expect("connect");
    assert_eq!(ping(&mut again).await.expect("PING after restore"), "PONG");
    assert_eq!(proxy.connections(), 1);
}
