//! Charging stations through the fleet: the station API and favourites on real PostgreSQL with
//! PostGIS, and route jobs to a station id and to the nearest available DC station, with the
//! directions calls counted at the simulator.

use std::time::Duration;

use reqwest::StatusCode;
use routeq_shared::db::DbUrl;
use routeq_testkit::Fleet;
use routeq_testkit::pg::TestDb;
use routeq_testkit::sim::latency;
use serde_json::{Value, json};
use uuid::Uuid;

/// Five stations around Gangnam station (37.4979, 127.0276), in the public format: a DC one
/// 300 m away whose only charger is busy, a DC one 600 m away free, an AC one 200 m away free,
/// a DC one 900 m away free, and one the next full reload will not deliver.
const FILE: &str = r#"{"resultCode":"00","totalCount":5,"items":{"item":[
 {"statId":"ST000001","chgerId":"01","statNm":"Busy DC","addr":"Seoul Gangnam-gu 1","lat":"37.5006","lng":"127.0276","chgerType":"04","output":"100","stat":"3","statUpdDt":"20261201120000","busiId":"ME","busiNm":"Env","useTime":"24h","zcode":"11","delYn":"N"},
 {"statId":"ST000002","chgerId":"01","statNm":"Free DC near","addr":"Seoul Gangnam-gu 2","lat":"37.5033","lng":"127.0276","chgerType":"04","output":"100","stat":"2","statUpdDt":"20261201120000","busiId":"ME","busiNm":"Env","useTime":"24h","zcode":"11","delYn":"N"},
 {"statId":"ST000003","chgerId":"01","statNm":"Free AC","addr":"Seoul Gangnam-gu 3","lat":"37.4997","lng":"127.0276","chgerType":"02","output":"7","stat":"2","statUpdDt":"20261201120000","busiId":"ME","busiNm":"Env","useTime":"24h","zcode":"11","delYn":"N"},
 {"statId":"ST000004","chgerId":"01","statNm":"Free DC far","addr":"Seoul Gangnam-gu 4","lat":"37.5060","lng":"127.0276","chgerType":"04","output":"50","stat":"2","statUpdDt":"20261201120000","busiId":"ME","busiNm":"Env","useTime":"24h","zcode":"11","delYn":"N"},
 {"statId":"ST000005","chgerId":"01","statNm":"Going away","addr":"Seoul Seocho-gu 9","lat":"37.4900","lng":"127.0100","chgerType":"04","output":"50","stat":"2","statUpdDt":"20261201120000","busiId":"ME","busiNm":"Env","useTime":"24h","zcode":"11","delYn":"N"}
]}}"#;

/// A database with every migration and the five stations imported; the fifth retired by a
/// second, full import that no longer has it.
async fn stations_db() -> (TestDb, sqlx::PgPool) {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    routeq_shared::db::migrate(&pool)
        .await
        .expect("migrations (PostGIS: scripts/setup.sh)");
    let dir = std::env::temp_dir().join(format!("routeq-st-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let first = dir.join("all.json");
    std::fs::write(&first, FILE).expect("file");
    let mut opts = routeq_stations::import::ImportOptions::new("keco");
    opts.full = true;
    routeq_stations::import::import(&pool, &first, &opts)
        .await
        .expect("import");
    let without_fifth = FILE.replace("\"totalCount\":5", "\"totalCount\":4");
    let cut = without_fifth
        .rfind(",\n {\"statId\":\"ST000005\"")
        .expect("fifth");
    let second = dir.join("reload.json");
    std::fs::write(&second, format!("{}\n]}}}}", &without_fifth[..cut])).expect("file");
    routeq_stations::import::import(&pool, &second, &opts)
        .await
        .expect("reload");
    let _ = std::fs::remove_dir_all(&dir);
    (db, pool)
}

async fn id_of(pool: &sqlx::PgPool, name: &str) -> Uuid {
    let (id,): (Uuid,) = sqlx::query_as("SELECT id FROM stations WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .expect("station");
    id
}

async fn fleet_on(db: &TestDb) -> Fleet {
    let url: DbUrl = db.url().parse().expect("db url");
    Fleet::start_with(latency(5, 10), |c| c.db.database_url = Some(url)).await
}

/// The status of a request.
async fn status(req: reqwest::RequestBuilder) -> StatusCode {
    req.send().await.expect("request").status()
}

/// The JSON body of a GET on the fleet's gateway.
async fn get_json(fleet: &Fleet, path: &str) -> Value {
    let r = fleet.http.get(fleet.url(path)).send().await.expect("get");
    r.json().await.expect("json")
}

/// The station names of a search answer, in order.
fn names(v: &Value) -> Vec<String> {
    v["stations"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn osrm_calls(fleet: &Fleet) -> u64 {
    let stats: Value = fleet
        .http
        .get(format!("{}/_sim/stats", fleet.sim.base_url()))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    let p = &stats["providers"]["osrm"];
    [
        "ok",
        "error",
        "rate_limited",
        "timeout",
        "malformed",
        "down",
        "not_found",
        "bad_request",
        "unauthorized",
    ]
    .iter()
    .map(|k| p[k].as_u64().unwrap_or(0))
    .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stations_search_read_and_favourites_keep_retired_ones() {
    let (db, pool) = stations_db().await;
    let fleet = fleet_on(&db).await;
    let http = &fleet.http;

    // Nearest first, with distances; filters apply to one charger.
    let near = "/v1/stations?lat=37.4979&lon=127.0276&radius_m=2000";
    let v = get_json(&fleet, near).await;
    assert_eq!(
        names(&v),
        ["Free AC", "Busy DC", "Free DC near", "Free DC far"],
        "{v}"
    );
    let d: Vec<f64> = v["stations"]
        .as_array()
        .expect("stations")
        .iter()
        .map(|s| s["distance_m"].as_f64().unwrap_or(0.0))
        .collect();
    assert!(
        d.windows(2).all(|w| w[0] <= w[1]) && (190.0..210.0).contains(&d[0]),
        "{d:?}"
    );
    let dc_free = format!("{near}&charger_type=dc&available=true&min_kw=60");
    let v = get_json(&fleet, &dc_free).await;
    assert_eq!(names(&v), ["Free DC near"], "{v}");

    // Bad parameters: 400 with every field named.
    let r = http
        .get(fleet.url("/v1/stations?lat=abc&radius_m=0&charger_type=plasma&x=1"))
        .send()
        .await
        .expect("bad");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.expect("json");
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap_or(""))
        .collect();
    for f in ["lat", "lon", "charger_type", "x"] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }

    // One station; a retired one still resolves and says so; an unknown one is 404.
    let retired = id_of(&pool, "Going away").await;
    let v = get_json(&fleet, &format!("/v1/stations/{retired}")).await;
    assert_eq!(v["retired"], json!(true), "{v}");
    let r = http
        .get(fleet.url(&format!("/v1/stations/{}", Uuid::new_v4())))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        r.json::<Value>().await.expect("json")["code"],
        "STATION_NOT_FOUND"
    );

    // Favourites: idempotent, per user, retired ones kept; unknown stations refused.
    let near_dc = id_of(&pool, "Free DC near").await;
    let fav = |user: &str, id: Uuid| fleet.url(&format!("/v1/users/{user}/favourites/{id}"));
    assert_eq!(
        status(http.put(fav("u1", near_dc))).await,
        StatusCode::CREATED
    );
    assert_eq!(
        status(http.put(fav("u1", near_dc))).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(http.put(fav("u1", retired))).await,
        StatusCode::CREATED
    );
    let r = http
        .put(fav("u1", Uuid::new_v4()))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v = get_json(&fleet, "/v1/users/u1/favourites").await;
    let favs = v["favourites"].as_array().expect("favourites");
    assert_eq!(favs.len(), 2, "{v}");
    assert!(
        favs.iter().any(|f| f["station"]["retired"] == json!(true)),
        "{v}"
    );
    let v = get_json(&fleet, "/v1/users/u2/favourites").await;
    assert_eq!(v["favourites"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(
        status(http.delete(fav("u1", near_dc))).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(http.delete(fav("u1", near_dc))).await,
        StatusCode::NO_CONTENT
    );
    drop(fleet);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_to_a_station_and_to_the_nearest_available_dc_station() {
    let (db, pool) = stations_db().await;
    let fleet = fleet_on(&db).await;
    let db_url: DbUrl = db.url().parse().expect("db url");
    fleet
        .worker_in_process(|c| c.db.database_url = Some(db_url))
        .await;
    let origin = json!({"lat": 37.4979, "lon": 127.0276});

    // Validated at submit: unknown and retired stations are 422 with their own codes.
    for (id, code) in [
        (Uuid::new_v4(), "STATION_NOT_FOUND"),
        (id_of(&pool, "Going away").await, "STATION_RETIRED"),
    ] {
        let r = fleet
            .gateway
            .post(&json!({"origin": origin, "destination": {"station_id": id}}))
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["code"], code, "{v}");
        assert_eq!(v["errors"][0]["field"], "destination.station_id", "{v}");
    }
    let r = fleet
        .gateway
        .post(&json!({"origin": {"nearest_station": {}}, "destination": origin}))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // To a station by id: one directions call, the station in the result.
    let before = osrm_calls(&fleet).await;
    let far = id_of(&pool, "Free DC far").await;
    // (From another origin than the nearest search below, whose routes would then be cached.)
    let elsewhere = json!({"lat": 37.4950, "lon": 127.0300});
    let id = fleet
        .submit(&json!({"origin": elsewhere, "destination": {"station_id": far}}))
        .await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(20)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["result"]["station"]["id"], json!(far), "{v}");
    assert_eq!(v["result"]["stops"][1]["source"], "station", "{v}");
    assert_eq!(osrm_calls(&fleet).await - before, 1);

    // To the nearest available DC station: the free DC ones within reach (the busy and the AC
    // ones do not qualify), one directions call each, the fastest answered, the other as an
    // alternative.
    let before = osrm_calls(&fleet).await;
    let body = json!({"origin": origin, "destination": {"nearest_station": {"charger_type": "dc", "available": true, "radius_m": 5000, "candidates": 3}}});
    let id = fleet.submit(&body).await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(20)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["result"]["station"]["name"], "Free DC near", "{v}");
    let alternatives = v["result"]["alternatives"]
        .as_array()
        .expect("alternatives");
    assert_eq!(alternatives.len(), 1, "{v}");
    assert_eq!(alternatives[0]["station"]["name"], "Free DC far", "{v}");
    assert!(
        alternatives[0]["duration_s"].as_f64() >= v["result"]["duration_s"].as_f64(),
        "{v}"
    );
    assert_eq!(
        osrm_calls(&fleet).await - before,
        2,
        "one directions call per candidate"
    );

    // Nothing qualifies: the job fails with its own code.
    let body = json!({"origin": origin, "destination": {"nearest_station": {"min_kw": 500, "radius_m": 1000}}});
    let id = fleet.submit(&body).await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(20)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["code"], "NO_STATION_NEARBY", "{v}");
    drop(fleet);
    pool.close().await;
}
