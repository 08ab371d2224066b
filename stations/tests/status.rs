//! Status feeds reach our chargers through the aliases: known keys applied, older states not,
//! unknown keys reported; after a reload that reshuffled every key, the new keys reach the same
//! stations and an old key now used for another station never reaches the old one.

mod common;

use common::{TempFile, TestDb, ids_by_key, import};
use routeq_stations::feed::Format;
use routeq_stations::generate::{self, reload::Rates};
use routeq_stations::model::ChargerStatus;
use uuid::Uuid;

async fn status_of(pool: &sqlx::PgPool, station: Uuid, chger_id: &str) -> (ChargerStatus, String) {
    let s = routeq_stations::get(pool, station).await.unwrap().unwrap();
    let c = s
        .chargers
        .iter()
        .find(|c| c.ext_charger_id == chger_id)
        .unwrap();
    (
        c.status,
        c.status_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_feed_goes_through_the_aliases_and_survives_a_reshuffle_of_keys() {
    let db = TestDb::create().await;
    let pool = &db.pool;
    let d = generate::generate(200, 21);
    import(pool, &TempFile::records(&d.stations, Format::Json), true).await;
    let keys = ids_by_key(pool).await;
    let (a, b) = (&d.stations[0], &d.stations[1]);
    let feed = TempFile::with(
        "csv",
        &format!(
            "statId,chgerId,stat,statUpdDt\n\
             {a},01,5,20261202120000\n\
             {b},01,4,20200101000000\n\
             XX999999,01,2,20261202120000\n\
             {a},01,8,20261202120000\n",
            a = a.stat_id,
            b = b.stat_id
        ),
    );
    let before_b = status_of(pool, keys[&b.stat_id], "01").await;
    let r = routeq_stations::status::apply(pool, feed.path(), "keco", None)
        .await
        .unwrap();
    assert_eq!(
        (r.rows_read, r.applied, r.stale, r.unknown, r.rejected),
        (4, 1, 1, 1, 1),
        "{r:?}"
    );
    assert_eq!(r.unknown_keys, [("XX999999".to_string(), "01".to_string())]);
    assert_eq!(
        (r.rejections[0].at.to_string(), r.rejections[0].field),
        ("line 5".to_string(), "stat")
    );
    let (status, at) = status_of(pool, keys[&a.stat_id], "01").await;
    assert_eq!(
        (status, at.as_str()),
        (ChargerStatus::Maintenance, "2026-12-02T03:00:00+00:00")
    );
    assert_eq!(
        status_of(pool, keys[&b.stat_id], "01").await,
        before_b,
        "an older state was applied"
    );

    // Every key changes; the new ones reach the same stations.
    let reload = generate::reload::reload(&d, 22, &Rates::default());
    import(
        pool,
        &TempFile::records(&reload.records, Format::Json),
        true,
    )
    .await;
    let moved_on = reload
        .records
        .iter()
        .find(|s| s.truth == a.truth && Some(s.truth) != reload.changes.split.as_ref().map(|x| x.0))
        .expect("station a is still delivered");
    // The old key of a now names another station (or nothing): a feed on it must not reach a.
    let old_key_owner = ids_by_key(pool).await.get(&a.stat_id).copied();
    assert_ne!(old_key_owner, Some(keys[&a.stat_id]));
    let feed = TempFile::with(
        "json",
        &serde_json::json!([
            {"statId": moved_on.stat_id, "chgerId": "01", "stat": "3", "statUpdDt": "20261203080000"},
            {"statId": a.stat_id, "chgerId": "01", "stat": "1", "statUpdDt": "20261203090000"},
        ])
        .to_string(),
    );
    let r = routeq_stations::status::apply(pool, feed.path(), "keco", None)
        .await
        .unwrap();
    assert_eq!(r.rejected, 0);
    let (status, _) = status_of(pool, keys[&a.stat_id], "01").await;
    assert_eq!(
        status,
        ChargerStatus::Charging,
        "the new key reached station a, the stale one did not"
    );
    match old_key_owner {
        Some(other) => {
            assert_eq!(r.applied, 2);
            assert_eq!(
                status_of(pool, other, "01").await.0,
                ChargerStatus::CommError
            );
        }
        None => assert_eq!((r.applied, r.unknown), (1, 1)),
    }
}
