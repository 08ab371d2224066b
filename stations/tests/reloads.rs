//! The headline: three successive full reloads in which every external key changes. Every
//! station that stayed keeps its id, moved ones too, added ones get new ids, removed ones are
//! retired, favourites all resolve, and the traps (a different station 15 m from another, one
//! station under two keys) land in the review queue instead of being merged.

mod common;

use std::collections::{HashMap, HashSet};

use common::{TempFile, TestDb, ids_by_key, import};
use routeq_stations::feed::Format;
use routeq_stations::generate::{self, reload::Rates};
use routeq_stations::review;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_full_reloads_with_every_key_changed_keep_every_identity() {
    let db = TestDb::create().await;
    let pool = &db.pool;
    let mut truth = generate::generate(1500, 11);
    let first = import(
        pool,
        &TempFile::records(&truth.stations, Format::Json),
        true,
    )
    .await;
    assert_eq!((first.new, first.rejected, first.ambiguous), (1500, 0, 0));

    let keys = ids_by_key(pool).await;
    let mut id_of: HashMap<u64, Uuid> = truth
        .stations
        .iter()
        .map(|s| (s.truth, keys[&s.stat_id]))
        .collect();
    let mut every_id: HashSet<Uuid> = id_of.values().copied().collect();
    assert_eq!(every_id.len(), 1500, "one id per station");

    // Favourites on every 10th station, spread over users of two tenants.
    let mut favourites: Vec<(String, String, u64)> = Vec::new();
    for (i, s) in truth.stations.iter().enumerate().step_by(10) {
        let (tenant, user) = (format!("t{}", i % 2), format!("u{}", i % 7));
        assert!(
            routeq_stations::favourites::put(pool, &tenant, &user, id_of[&s.truth])
                .await
                .unwrap()
        );
        favourites.push((tenant, user, s.truth));
    }
    let mut removed_ever: HashSet<u64> = HashSet::new();
    let mut traps: Vec<(u64, u64)> = Vec::new();

    for round in 1..=3u64 {
        let r = generate::reload::reload(&truth, 100 + round, &Rates::default());
        let c = &r.changes;
        let (split, split_keys) = c.split.clone().expect("a split trap");
        traps.push(c.neighbour.expect("a neighbour trap"));
        let format = if round == 2 {
            Format::Csv
        } else {
            Format::Json
        };
        let report = import(pool, &TempFile::records(&r.records, format), true).await;

        let old_keys: HashSet<&str> = truth.stations.iter().map(|s| s.stat_id.as_str()).collect();
        let old_key: HashMap<u64, &str> = truth
            .stations
            .iter()
            .map(|s| (s.truth, s.stat_id.as_str()))
            .collect();
        let mut reused = 0;
        let keys = ids_by_key(pool).await;
        let moved: HashMap<u64, f64> = c.moved.iter().copied().collect();
        let trap_stations: HashSet<u64> = traps.iter().map(|t| t.0).collect();
        let before: HashSet<u64> = truth.stations.iter().map(|s| s.truth).collect();
        let (mut kept, mut kept_moved, mut added) = (0, 0, 0);
        let mut now_ids: HashMap<Uuid, u64> = HashMap::new();
        for s in &r.records {
            if let Some(old) = old_key.get(&s.truth) {
                assert_ne!(
                    *old, s.stat_id,
                    "round {round}: station {} kept its key",
                    s.truth
                );
            }
            if old_keys.contains(s.stat_id.as_str()) {
                reused += 1;
            }
            if s.truth == split || trap_stations.contains(&s.truth) {
                assert!(
                    !keys.contains_key(&s.stat_id),
                    "round {round}: trap key {} was decided",
                    s.stat_id
                );
                continue;
            }
            let id = *keys
                .get(&s.stat_id)
                .unwrap_or_else(|| panic!("round {round}: no station for {}", s.stat_id));
            if let Some(other) = now_ids.insert(id, s.truth) {
                panic!(
                    "round {round}: stations {other} and {} merged into {id}",
                    s.truth
                );
            }
            if before.contains(&s.truth) {
                assert_eq!(
                    id, id_of[&s.truth],
                    "round {round}: station {} lost its id",
                    s.truth
                );
                if let Some(metres) = moved.get(&s.truth) {
                    kept_moved += 1;
                    let at = routeq_stations::get(pool, id).await.unwrap().unwrap();
                    let off = generate::distance_m(at.lat, at.lon, s.lat, s.lng);
                    assert!(off < 0.05, "moved {metres} m but stored {off} m off");
                } else {
                    kept += 1;
                }
            } else {
                assert!(
                    every_id.insert(id),
                    "round {round}: added station {} reused an id",
                    s.truth
                );
                id_of.insert(s.truth, id);
                added += 1;
            }
        }
        // The source reshuffled its keys: most now name another, distant station.
        assert!(
            reused > r.records.len() / 2,
            "round {round}: only {reused} keys reused"
        );
        // Every station that stayed (split trap aside), moved or not, kept its id; every added one is new.
        let stayed = before.len() - c.removed.len() - 1 - (traps.len() - 1);
        assert_eq!(kept + kept_moved, stayed, "round {round}");
        assert_eq!(kept_moved, c.moved.len(), "round {round}");
        assert_eq!(added, c.added.len(), "round {round}");
        assert_eq!(
            (
                report.kept,
                report.moved,
                report.new,
                report.retired,
                report.ambiguous
            ),
            (
                kept as u64,
                kept_moved as u64,
                added as u64,
                c.removed.len() as u64,
                traps.len() as u64 + 2
            ),
            "round {round}: {report:?}"
        );

        // Removed ones are retired, not deleted; the split station is kept while it is reviewed.
        removed_ever.extend(c.removed.iter().copied());
        for t in &c.removed {
            let s = routeq_stations::get(pool, id_of[t])
                .await
                .unwrap()
                .expect("still there");
            assert!(
                s.retired(),
                "round {round}: removed station {t} not retired"
            );
        }
        let s = routeq_stations::get(pool, id_of[&split])
            .await
            .unwrap()
            .unwrap();
        assert!(!s.retired(), "round {round}: the split station was retired");

        // The traps wait in the review queue, and only they.
        let open = review::list(pool, None, false, 100).await.unwrap();
        assert_eq!(open.len(), traps.len() + 2, "round {round}: {open:#?}");
        for (t, n) in &traps {
            let trap = r.records.iter().find(|s| s.truth == *t).unwrap();
            let rv = open
                .iter()
                .find(|v| v.incoming.stat_id == trap.stat_id)
                .expect("neighbour reviewed");
            assert_eq!(rv.reason, "disagrees");
            assert_eq!(
                rv.candidates.iter().map(|c| c.id).collect::<Vec<_>>(),
                [id_of[n]]
            );
            assert!(
                (rv.candidates[0].distance_m - 15.0).abs() < 0.5,
                "{:?}",
                rv.candidates
            );
        }
        for key in &split_keys {
            let rv = open
                .iter()
                .find(|v| &v.incoming.stat_id == key)
                .expect("split half reviewed");
            assert_eq!(rv.reason, "contested");
            assert_eq!(rv.candidates[0].id, id_of[&split]);
        }

        // Every favourite still resolves, and says whether its station is retired.
        for (tenant, user, t) in &favourites {
            let list = routeq_stations::favourites::list(pool, tenant, user)
                .await
                .unwrap();
            let f = list
                .iter()
                .find(|f| f.station.id == id_of[t])
                .expect("favourite resolves");
            assert_eq!(
                f.station.retired(),
                removed_ever.contains(t),
                "round {round}: favourite {t}"
            );
        }
        truth = r.next;
    }
}
