//! Nearest search (order, distances, filters, limits, retired stations left out), one station by
//! id, favourites, and the errors of bad arguments.

mod common;

use common::{CSV_HEADER, TempFile, TestDb, ids_by_key, import};
use routeq_stations::generate::offset;
use routeq_stations::model::{ChargerKind, Filters};
use routeq_stations::{Error, favourites, get, nearest};
use uuid::Uuid;

const ORIGIN: (f64, f64) = (37.5, 127.0);

/// (statId, name, metres, bearing in degrees, chargers as (type, kW, stat)).
type Spec = (
    &'static str,
    &'static str,
    f64,
    f64,
    &'static [(&'static str, u32, u8)],
);

const STATIONS: &[Spec] = &[
    ("ME0000A1", "북쪽 공영주차장", 100.0, 0.0, &[("04", 100, 2)]),
    ("ME0000B1", "동쪽 아파트", 300.0, 90.0, &[("02", 7, 2)]),
    (
        "ME0000C1",
        "남쪽 마트",
        600.0,
        180.0,
        &[("04", 50, 3), ("02", 7, 2)],
    ),
    ("ME0000D1", "서쪽 주유소", 2000.0, 270.0, &[("06", 200, 2)]),
    ("ME0000E1", "북동 체육센터", 900.0, 45.0, &[("07", 43, 5)]),
];

fn csv(skip: Option<&str>) -> String {
    let mut out = vec![CSV_HEADER.to_string()];
    for (id, name, m, deg, chargers) in STATIONS {
        if Some(*id) == skip {
            continue;
        }
        let (lat, lng) = offset(ORIGIN.0, ORIGIN.1, *m, deg.to_radians());
        for (i, (t, kw, stat)) in chargers.iter().enumerate() {
            out.push(format!(
                "{id},{:02},{name},서울특별시 {name},{lat:.7},{lng:.7},{t},{kw},{stat},20261201090000,ME,환경부,24시간,11,N",
                i + 1
            ));
        }
    }
    out.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearest_first_with_filters_and_never_a_retired_station() {
    let db = TestDb::create().await;
    let pool = &db.pool;
    import(pool, &TempFile::with("csv", &csv(None)), true).await;
    let keys = ids_by_key(pool).await;
    let name_of = |id: Uuid| {
        keys.iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.clone())
            .unwrap()
    };
    let search = |radius: f64, limit: u32, f: Filters| async move {
        nearest(pool, ORIGIN.0, ORIGIN.1, radius, limit, &f)
            .await
            .unwrap()
    };
    let names = |found: &[(routeq_stations::Station, f64)]| {
        found.iter().map(|(s, _)| name_of(s.id)).collect::<Vec<_>>()
    };
    let kind = |k: &str| Some(k.parse::<ChargerKind>().unwrap());

    let all = search(1000.0, 10, Filters::default()).await;
    assert_eq!(
        names(&all),
        ["ME0000A1", "ME0000B1", "ME0000C1", "ME0000E1"]
    );
    for ((_, d), want) in all.iter().zip([100.0, 300.0, 600.0, 900.0]) {
        assert!(
            (d - want).abs() < want * 0.005,
            "{d} m, expected about {want} m"
        );
    }
    assert_eq!(all[2].0.chargers.len(), 2);
    let f = |charger_type, min_kw, available| Filters {
        charger_type,
        min_kw,
        available,
    };
    assert_eq!(
        names(&search(1000.0, 10, f(kind("dc"), None, false)).await),
        ["ME0000A1", "ME0000C1"]
    );
    // One charger must meet every filter: C's DC charger is busy, its free one is AC.
    assert_eq!(
        names(&search(1000.0, 10, f(kind("dc"), None, true)).await),
        ["ME0000A1"]
    );
    assert_eq!(
        names(&search(1000.0, 10, f(None, Some(100.0), false)).await),
        ["ME0000A1"]
    );
    assert_eq!(
        names(&search(1000.0, 10, f(kind("ac"), None, false)).await),
        ["ME0000B1", "ME0000C1", "ME0000E1"]
    );
    assert_eq!(
        names(&search(1000.0, 10, f(kind("ac3"), None, false)).await),
        ["ME0000E1"]
    );
    assert_eq!(
        names(&search(1000.0, 10, f(None, None, true)).await),
        ["ME0000A1", "ME0000B1", "ME0000C1"]
    );
    assert_eq!(
        names(&search(1000.0, 2, Filters::default()).await),
        ["ME0000A1", "ME0000B1"]
    );
    assert_eq!(
        names(&search(5000.0, 10, f(kind("dc_combo"), Some(150.0), false)).await),
        ["ME0000D1"]
    );
    assert!(search(50.0, 10, Filters::default()).await.is_empty());

    // A full reload without A retires it: no longer found, still readable, still a favourite.
    let a = keys["ME0000A1"];
    assert!(favourites::put(pool, "t1", "u1", a).await.unwrap());
    let report = import(pool, &TempFile::with("csv", &csv(Some("ME0000A1"))), true).await;
    assert_eq!((report.kept, report.retired), (4, 1));
    assert_eq!(
        names(&search(1000.0, 10, Filters::default()).await),
        ["ME0000B1", "ME0000C1", "ME0000E1"]
    );
    let retired = get(pool, a).await.unwrap().unwrap();
    assert!(retired.retired());
    assert_eq!(retired.name, "북쪽 공영주차장");
    assert!(
        favourites::list(pool, "t1", "u1").await.unwrap()[0]
            .station
            .retired()
    );
    assert!(get(pool, Uuid::now_v7()).await.unwrap().is_none());

    for (result, field) in [
        (
            nearest(pool, 91.0, 127.0, 100.0, 10, &Filters::default()).await,
            "lat",
        ),
        (
            nearest(pool, 37.0, f64::NAN, 100.0, 10, &Filters::default()).await,
            "lon",
        ),
        (
            nearest(pool, 37.0, 127.0, 0.0, 10, &Filters::default()).await,
            "radius_m",
        ),
        (
            nearest(pool, 37.0, 127.0, 100.0, 0, &Filters::default()).await,
            "limit",
        ),
        (
            nearest(pool, 37.0, 127.0, 100.0, 101, &Filters::default()).await,
            "limit",
        ),
        (
            nearest(pool, 37.0, 127.0, 100.0, 10, &f(None, Some(-1.0), false)).await,
            "min_kw",
        ),
    ] {
        assert!(
            matches!(result, Err(Error::Invalid { field: f, .. }) if f == field),
            "{field}: {result:?}"
        );
    }
    assert!(matches!(
        "plasma".parse::<ChargerKind>(),
        Err(Error::Invalid {
            field: "charger_type",
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn favourites_are_per_tenant_and_user_and_refuse_unknown_stations() {
    let db = TestDb::create().await;
    let pool = &db.pool;
    import(pool, &TempFile::with("csv", &csv(None)), true).await;
    let keys = ids_by_key(pool).await;
    let (a, b) = (keys["ME0000A1"], keys["ME0000B1"]);
    assert!(favourites::put(pool, "t1", "u1", a).await.unwrap());
    assert!(
        !favourites::put(pool, "t1", "u1", a).await.unwrap(),
        "a second put is a no-op"
    );
    assert!(favourites::put(pool, "t1", "u1", b).await.unwrap());
    assert!(favourites::put(pool, "t2", "u1", b).await.unwrap());
    let unknown = Uuid::now_v7();
    assert!(
        matches!(favourites::put(pool, "t1", "u1", unknown).await, Err(Error::StationNotFound(id)) if id == unknown)
    );
    let ids = |l: Vec<routeq_stations::Favourite>| {
        l.into_iter().map(|f| f.station.id).collect::<Vec<_>>()
    };
    let mut mine = ids(favourites::list(pool, "t1", "u1").await.unwrap());
    mine.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(mine, want);
    assert_eq!(ids(favourites::list(pool, "t2", "u1").await.unwrap()), [b]);
    assert!(ids(favourites::list(pool, "t1", "u2").await.unwrap()).is_empty());
    assert!(favourites::delete(pool, "t1", "u1", a).await.unwrap());
    assert!(!favourites::delete(pool, "t1", "u1", a).await.unwrap());
    assert_eq!(ids(favourites::list(pool, "t1", "u1").await.unwrap()), [b]);
    assert!(matches!(
        favourites::list(pool, "", "u1").await,
        Err(Error::Invalid {
            field: "tenant",
            ..
        })
    ));
    assert!(matches!(
        favourites::put(pool, "t1", &"x".repeat(129), a).await,
        Err(Error::Invalid {
            field: "user_id",
            ..
        })
    ));
}
