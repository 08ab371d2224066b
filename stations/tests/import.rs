//! The importer on files of our own making: bad rows reported by line (CSV) or item (JSON) with
//! the field at fault and the rest imported; the same file twice is a no-op; an unreadable file
//! imports nothing; an older file after a newer one is applied (and revives what it has).

mod common;

use common::{CSV_HEADER, TempFile, TestDb, ids_by_key, import};
use routeq_stations::feed::{FeedError, Position};
use routeq_stations::generate;
use routeq_stations::import::ImportOptions;
use sqlx::PgPool;

/// Rows of one file: (CSV line or JSON item number, the row, the field it must be rejected on).
fn rows() -> Vec<(&'static str, Option<&'static str>)> {
    vec![
        (
            "ME000001,01,이마트 성수점,서울특별시 성동구 왕십리로 83,37.5446,127.0557,04,100,2,20261201093000,ME,환경부,24시간,11,N",
            None,
        ),
        (
            "ME000001,02,이마트 성수점,서울특별시 성동구 왕십리로 83,37.5446,127.0557,02,7,3,20261201093000,ME,환경부,24시간,11,N",
            None,
        ),
        (
            "ME000002,01,성수동 공영주차장,서울특별시 성동구 아차산로 17,37.5470,127.0600,02,,2,,ME,환경부,24시간,11,N",
            None,
        ),
        (
            "ME000003,01,뚝섬 주차장,서울특별시 성동구 뚝섬로 1,37.5x,127.0400,02,7,2,20261201093000,ME,환경부,24시간,11,N",
            Some("lat"),
        ),
        (
            "ME000004,01,도쿄 주차장,도쿄,35.68,139.76,02,7,2,20261201093000,ME,환경부,24시간,11,N",
            Some("lng"),
        ),
        (
            ",01,이름 없는 키,서울특별시,37.55,127.05,02,7,2,20261201093000,ME,환경부,24시간,11,N",
            Some("statId"),
        ),
        (
            "ME000005,01,왕십리 주차장,서울특별시,37.56,127.03,04,fast,2,20261201093000,ME,환경부,24시간,11,N",
            Some("output"),
        ),
        (
            "ME000006,01,행당동 주차장,서울특별시,37.557,127.031,04,50,7,20261201093000,ME,환경부,24시간,11,N",
            Some("stat"),
        ),
        (
            "ME000001,01,이마트 성수점,서울특별시 성동구 왕십리로 83,37.5446,127.0557,04,100,2,20261201093000,ME,환경부,24시간,11,N",
            Some("chgerId"),
        ),
        ("ME000007,01,모자란 줄", Some("row")),
        (
            "ME000008,01,철거된 충전소,서울특별시,37.58,127.01,02,7,2,20261201093000,ME,환경부,24시간,11,Y",
            None,
        ),
        (
            "\"ME000009\",\"01\",\"금호동 주차장, 2층\",\"서울특별시 성동구 금호로 5\",\"37.5540\",\"127.0200\",\"07\",\"43\",\"2\",\"20261201093000\",\"KP\",\"한국전력\",\"24시간\",\"11\",\"N\"",
            None,
        ),
    ]
}

/// The same rows as the service's JSON body (strings, as it sends them).
fn json_body() -> String {
    let header: Vec<&str> = CSV_HEADER.split(',').collect();
    let mut items = Vec::new();
    for (row, _) in rows() {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(row.as_bytes());
        let record = rdr.records().next().unwrap().unwrap();
        let item: serde_json::Map<String, serde_json::Value> = header
            .iter()
            .zip(record.iter())
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        // The short row becomes an item that is not an object.
        items.push(if record.len() == header.len() {
            serde_json::Value::Object(item)
        } else {
            serde_json::json!("ME000007")
        });
    }
    serde_json::json!({"resultCode": "00", "totalCount": items.len(), "items": {"item": items}})
        .to_string()
}

async fn counts(pool: &PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM stations), (SELECT count(*) FROM chargers),
                (SELECT count(*) FROM station_imports)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_reported_by_line_or_item_with_their_field_and_the_rest_is_imported() {
    let csv_text = std::iter::once(CSV_HEADER)
        .chain(rows().into_iter().map(|r| r.0))
        .collect::<Vec<_>>()
        .join("\n");
    for (file, position) in [
        (
            TempFile::with("csv", &csv_text),
            Position::Line as fn(u64) -> Position,
        ),
        (TempFile::with("json", &json_body()), Position::Item),
    ] {
        let db = TestDb::create().await;
        let report = import(&db.pool, &file, false).await;
        // CSV lines count the header as line 1; JSON items count from 1.
        let first = if matches!(position(0), Position::Line(_)) {
            2
        } else {
            1
        };
        let expected: Vec<(Position, &str)> = rows()
            .iter()
            .enumerate()
            .filter_map(|(i, (_, field))| field.map(|f| (position(first + i as u64), f)))
            .collect();
        let got: Vec<(Position, &str)> =
            report.rejections.iter().map(|r| (r.at, r.field)).collect();
        assert_eq!(got, expected, "{:#?}", report.rejections);
        assert_eq!(
            (report.rows_read, report.rows_deleted, report.rejected),
            (12, 1, 7)
        );
        assert_eq!((report.stations_read, report.new), (3, 3));
        assert_eq!(counts(&db.pool).await, (3, 4, 1));
        let keys = ids_by_key(&db.pool).await;
        let mut names: Vec<String> = Vec::new();
        for key in ["ME000001", "ME000002", "ME000009"] {
            let s = routeq_stations::get(&db.pool, keys[key])
                .await
                .unwrap()
                .unwrap();
            names.push(s.name);
        }
        assert_eq!(
            names,
            ["이마트 성수점", "성수동 공영주차장", "금호동 주차장, 2층"]
        );
        let dup = report
            .rejections
            .iter()
            .find(|r| r.field == "chgerId")
            .unwrap();
        assert!(
            dup.reason
                .contains(&format!("already delivered at {}", position(first))),
            "{dup}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_file_twice_changes_nothing_and_an_older_file_is_applied_again() {
    let db = TestDb::create().await;
    let pool = &db.pool;
    let d = generate::generate(300, 5);
    let a = TempFile::records(&d.stations, routeq_stations::feed::Format::Csv);
    let snapshot = || async {
        let (s,): (String,) = sqlx::query_as(
            "SELECT md5(concat_ws('|',
                 (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM stations t),
                 (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM chargers t),
                 (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM external_keys t),
                 (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM station_imports t)))",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        s
    };
    let first = import(pool, &a, true).await;
    assert_eq!(first.new, 300);
    let before = snapshot().await;
    let again = import(pool, &a, true).await;
    assert_eq!(again.unchanged_since, first.import_id);
    assert_eq!((again.import_id, again.new, again.kept), (None, 0, 0));
    assert_eq!(snapshot().await, before, "a re-run changed the database");

    // B lacks one station; A again brings it back under its old id.
    let gone = d.stations[7].clone();
    let b = TempFile::records(
        &d.stations[..7]
            .iter()
            .chain(&d.stations[8..])
            .cloned()
            .collect::<Vec<_>>(),
        routeq_stations::feed::Format::Csv,
    );
    let rb = import(pool, &b, true).await;
    assert_eq!((rb.kept, rb.retired), (299, 1));
    let id = ids_by_key(pool).await[&gone.stat_id];
    assert!(
        routeq_stations::get(pool, id)
            .await
            .unwrap()
            .unwrap()
            .retired()
    );
    let ra = import(pool, &a, true).await;
    assert_eq!((ra.kept, ra.revived, ra.new, ra.retired), (300, 1, 0, 0));
    assert!(
        !routeq_stations::get(pool, id)
            .await
            .unwrap()
            .unwrap()
            .retired()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_read_whole_imports_nothing() {
    let db = TestDb::create().await;
    let d = generate::generate(50, 9);
    let good = TempFile::records(&d.stations, routeq_stations::feed::Format::Json);
    let text = std::fs::read_to_string(good.path()).unwrap();
    // Cut off in the middle of the items: the first ones were read and copied already.
    let at = text
        .char_indices()
        .map(|(i, _)| i)
        .find(|&i| i >= text.len() * 2 / 3)
        .unwrap();
    let cut = TempFile::with("json", &text[..at]);
    let err = routeq_stations::import::import(&db.pool, cut.path(), &ImportOptions::new("keco"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            routeq_stations::Error::Feed(FeedError::Malformed { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not valid JSON"), "{err}");
    assert_eq!(counts(&db.pool).await, (0, 0, 0));

    let missing = TempFile::with("csv", "statId,lat,lng\nME1,37.5,127.0\n");
    let err =
        routeq_stations::import::import(&db.pool, missing.path(), &ImportOptions::new("keco"))
            .await
            .unwrap_err();
    assert!(
        err.to_string()
            .contains("no chgerId, statNm, chgerType, stat column"),
        "{err}"
    );
    let unknown = TempFile::with("txt", "");
    let err =
        routeq_stations::import::import(&db.pool, unknown.path(), &ImportOptions::new("keco"))
            .await
            .unwrap_err();
    assert!(err.to_string().contains("--format"), "{err}");
    assert_eq!(counts(&db.pool).await, (0, 0, 0));
}
