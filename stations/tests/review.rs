//! Resolving the review queue: the neighbour trap as a new station, both halves of a split
//! station onto it; the next reload then recognises all of them by themselves.

mod common;

use std::collections::HashMap;

use common::{TempFile, TestDb, ids_by_key, import};
use routeq_stations::Error;
use routeq_stations::feed::Format;
use routeq_stations::generate::{self, reload::Rates};
use routeq_stations::review::{self, Resolution};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolved_reviews_become_stations_the_next_reload_recognises() {
    let db = TestDb::create().await;
    let pool = &db.pool;
    let d = generate::generate(400, 31);
    import(pool, &TempFile::records(&d.stations, Format::Json), true).await;
    let first_keys = ids_by_key(pool).await;
    let id_of: HashMap<u64, Uuid> = d
        .stations
        .iter()
        .map(|s| (s.truth, first_keys[&s.stat_id]))
        .collect();

    let r1 = generate::reload::reload(&d, 32, &Rates::default());
    import(pool, &TempFile::records(&r1.records, Format::Json), true).await;
    let (t, n) = r1.changes.neighbour.unwrap();
    let (split, [x, y]) = r1.changes.split.clone().unwrap();
    let open = review::list(pool, Some("keco"), false, 10).await.unwrap();
    assert_eq!(open.len(), 3, "{open:#?}");
    let by_key = |key: &str| open.iter().find(|r| r.incoming.stat_id == key).unwrap().id;
    let trap = r1.records.iter().find(|s| s.truth == t).unwrap();

    // The trap is a station of its own.
    let created = review::resolve(pool, by_key(&trap.stat_id), Resolution::New)
        .await
        .unwrap();
    let s = routeq_stations::get(pool, created).await.unwrap().unwrap();
    assert_eq!(
        (s.name.as_str(), s.chargers.len()),
        (trap.name.as_str(), trap.chargers.len())
    );
    let neighbour = routeq_stations::get(pool, id_of[&n])
        .await
        .unwrap()
        .unwrap();
    let apart = generate::distance_m(s.lat, s.lon, neighbour.lat, neighbour.lon);
    assert!((apart - 15.0).abs() < 0.5, "{apart} m");
    assert_eq!(ids_by_key(pool).await[&trap.stat_id], created);

    // Both halves of the split station are the one we know; an unknown station is refused.
    let wrong = Uuid::now_v7();
    let err = review::resolve(pool, by_key(&x), Resolution::Station(wrong))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::StationNotFound(id) if id == wrong),
        "{err}"
    );
    for key in [&x, &y] {
        assert_eq!(
            review::resolve(pool, by_key(key), Resolution::Station(id_of[&split]))
                .await
                .unwrap(),
            id_of[&split]
        );
    }
    let whole = d.stations.iter().find(|s| s.truth == split).unwrap();
    let merged = routeq_stations::get(pool, id_of[&split])
        .await
        .unwrap()
        .unwrap();
    let mut got: Vec<&str> = merged
        .chargers
        .iter()
        .map(|c| c.ext_charger_id.as_str())
        .collect();
    got.sort();
    assert_eq!(
        got,
        whole
            .chargers
            .iter()
            .map(|c| c.chger_id.as_str())
            .collect::<Vec<_>>()
    );
    let keys = ids_by_key(pool).await;
    assert_eq!((keys[&x], keys[&y]), (id_of[&split], id_of[&split]));
    assert!(matches!(
        review::resolve(pool, by_key(&x), Resolution::New).await,
        Err(Error::ReviewResolved(_))
    ));
    assert!(matches!(
        review::resolve(pool, 999_999, Resolution::New).await,
        Err(Error::ReviewNotFound(999_999))
    ));
    assert!(
        review::list(pool, None, false, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(review::list(pool, None, true, 10).await.unwrap().len(), 3);

    // Next delivery, every key changed again: the resolved trap and its neighbour are told apart.
    let r2 = generate::reload::reload(&r1.next, 33, &Rates::default());
    let report = import(pool, &TempFile::records(&r2.records, Format::Csv), true).await;
    let keys = ids_by_key(pool).await;
    let key_of = |truth: u64| {
        r2.records
            .iter()
            .find(|s| s.truth == truth)
            .unwrap()
            .stat_id
            .clone()
    };
    assert_eq!(keys[&key_of(t)], created);
    assert_eq!(keys[&key_of(n)], id_of[&n]);
    if r2.changes.split.as_ref().map(|s| s.0) != Some(split) {
        assert_eq!(keys[&key_of(split)], id_of[&split]);
    }
    // Only this delivery's traps wait: the new neighbour and the two halves of its split.
    assert_eq!(report.ambiguous, 3, "{report:?}");
}
