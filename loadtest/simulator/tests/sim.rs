//! End-to-end tests: the simulator runs in-process on 127.0.0.1:0 and is called over HTTP.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use routeq_sim::{
    FaultPatch, FaultTable, Provider, SimArgs, SimHandle, Simulator, Stats, addresses, haversine_m,
};
use serde_json::Value;

const UA: &str = "routeq-sim-tests/0.1 (tests@routeq.invalid)";
const KAKAO: &str = "KakaoAK test-key";

async fn start(args: SimArgs) -> SimHandle {
    Simulator::bind(args).await.expect("bind").spawn()
}

async fn start_instant() -> SimHandle {
    start(SimArgs::instant()).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "invalid JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

async fn get(sim: &SimHandle, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = client().get(format!("{}{path}", sim.base_url()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn post_json(sim: &SimHandle, path: &str, body: &str) -> Answer {
    let resp = client()
        .post(format!("{}{path}", sim.base_url()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("send");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// Decodes an encoded polyline (lat, lon order) — an independent check of the simulator's
/// encoder.
fn decode(text: &str, precision: i32) -> Vec<(f64, f64)> {
    let factor = 10f64.powi(precision);
    let mut values = Vec::new();
    let (mut acc, mut shift) = (0i64, 0);
    for b in text.bytes() {
        let chunk = i64::from(b) - 63;
        acc |= (chunk & 0x1f) << shift;
        shift += 5;
        if chunk < 0x20 {
            let v = if acc & 1 == 1 { !(acc >> 1) } else { acc >> 1 };
            values.push(v);
            acc = 0;
            shift = 0;
        }
    }
    assert_eq!(values.len() % 2, 0, "odd number of values in {text}");
    let (mut lat, mut lon) = (0i64, 0i64);
    values
        .chunks(2)
        .map(|c| {
            lat += c[0];
            lon += c[1];
            (lat as f64 / factor, lon as f64 / factor)
        })
        .collect()
}

const GANGNAM: (f64, f64) = (37.497_942, 127.027_621);
const CITY_HALL: (f64, f64) = (37.566_295, 126.977_945);
const BUSAN: (f64, f64) = (35.115_225, 129.042_243);

fn osrm_coords(points: &[(f64, f64)]) -> String {
    points
        .iter()
        .map(|(lat, lon)| format!("{lon},{lat}"))
        .collect::<Vec<_>>()
        .join(";")
}

// ---------------------------------------------------------------------------------------------
// OSRM

#[tokio::test]
async fn osrm_success_shape_and_geometry() {
    let sim = start_instant().await;
    let pts = [GANGNAM, CITY_HALL, BUSAN];
    let a = get(
        &sim,
        &format!(
            "/route/v1/driving/{}?overview=full&geometries=polyline&steps=false&alternatives=false",
            osrm_coords(&pts)
        ),
        &[],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let v = a.json();
    assert_eq!(v["code"], "Ok");
    let route = &v["routes"][0];
    assert!(route["distance"].is_f64() && route["duration"].is_f64());
    let expected: f64 = pts.windows(2).map(|w| haversine_m(w[0], w[1]) * 1.3).sum();
    let distance = route["distance"].as_f64().unwrap();
    assert!(
        (distance - expected).abs() < 0.2,
        "{distance} vs {expected}"
    );
    let duration = route["duration"].as_f64().unwrap();
    assert!((duration - expected / 8.3).abs() < 0.2);
    assert_eq!(route["weight"].as_f64(), Some(duration));
    assert_eq!(route["weight_name"], "routability");
    let legs = route["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 2);
    for leg in legs {
        assert!(leg["distance"].is_f64() && leg["duration"].is_f64());
        assert_eq!(leg["summary"], "");
        assert_eq!(leg["steps"], serde_json::json!([]));
    }
    let wps = v["waypoints"].as_array().unwrap();
    assert_eq!(wps.len(), 3);
    assert_eq!(wps[0]["location"][0].as_f64(), Some(GANGNAM.1));
    assert_eq!(wps[0]["location"][1].as_f64(), Some(GANGNAM.0));
    assert_eq!(wps[0]["name"], "");
    assert_eq!(wps[0]["hint"], "");
    let decoded = decode(route["geometry"].as_str().unwrap(), 5);
    assert_eq!(decoded.len(), 3);
    for (d, p) in decoded.iter().zip(&pts) {
        assert!(
            (d.0 - p.0).abs() <= 1e-5 && (d.1 - p.1).abs() <= 1e-5,
            "{d:?} {p:?}"
        );
    }

    // polyline6, a .json suffix, and the library encoder agree.
    let v = get(
        &sim,
        &format!(
            "/route/v1/car/{}.json?geometries=polyline6",
            osrm_coords(&pts[..2])
        ),
        &[],
    )
    .await
    .json();
    let g = v["routes"][0]["geometry"].as_str().unwrap();
    assert_eq!(g, routeq_sim::encode_polyline(&pts[..2], 6));
    for (d, p) in decode(g, 6).iter().zip(&pts) {
        assert!((d.0 - p.0).abs() <= 1e-6 && (d.1 - p.1).abs() <= 1e-6);
    }

    // overview=false omits the geometry; geojson gives [lon, lat] pairs.
    let v = get(
        &sim,
        &format!("/route/v1/foot/{}?overview=false", osrm_coords(&pts[..2])),
        &[],
    )
    .await
    .json();
    assert!(v["routes"][0].get("geometry").is_none());
    let v = get(
        &sim,
        &format!(
            "/route/v1/bike/{}?geometries=geojson",
            osrm_coords(&pts[..2])
        ),
        &[],
    )
    .await
    .json();
    assert_eq!(v["routes"][0]["geometry"]["type"], "LineString");
    assert_eq!(
        v["routes"][0]["geometry"]["coordinates"][1][0].as_f64(),
        Some(CITY_HALL.1)
    );
    // OSRM's polyline(...) coordinate form.
    let poly = routeq_sim::encode_polyline(&pts[..2], 5);
    let v = get(&sim, &format!("/route/v1/car/polyline({poly})"), &[])
        .await
        .json();
    assert_eq!(v["code"], "Ok");
}

#[tokio::test]
async fn osrm_error_shapes() {
    let sim = start_instant().await;
    let cases: &[(&str, &str)] = &[
        ("/route/v1/driving/abc", "InvalidQuery"),
        ("/route/v1/driving/127.0,37.5;x,1", "InvalidQuery"),
        ("/route/v1/driving/127.0,37.5;", "InvalidQuery"),
        ("/route/v1/driving/%FF%FE", "InvalidQuery"),
        (
            "/route/v1/driving/127.0,37.5;127.1,37.6?geometries=wkt",
            "InvalidQuery",
        ),
        ("/route/v1/driving/127.0,37.5", "InvalidOptions"),
        ("/route/v1/driving/127.0,95.0;127.1,37.6", "InvalidValue"),
        ("/route/v1/driving/190.0,37.0;127.1,37.6", "InvalidValue"),
        ("/route/v1/truck/127.0,37.5;127.1,37.6", "InvalidValue"),
        ("/route/v2/driving/127.0,37.5;127.1,37.6", "InvalidVersion"),
        ("/route/v1/driving", "InvalidUrl"),
        ("/route/v1/car/127.0,37.5;166.67,-77.85", "NoSegment"),
        ("/route/v1/car/127.03,37.50;2.29,48.86", "NoRoute"),
    ];
    for (path, code) in cases {
        let a = get(&sim, path, &[]).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}");
        let v = a.json();
        assert_eq!(v["code"], *code, "{path}: {v}");
        assert!(v["message"].is_string(), "{path}");
    }
    let v = get(&sim, "/route/v1/car/127.0,37.5;166.67,-77.85", &[])
        .await
        .json();
    assert_eq!(
        v["message"],
        "Could not find a matching segment for coordinate 1"
    );
    let v = get(&sim, "/route/v1/car/127.03,37.50;2.29,48.86", &[])
        .await
        .json();
    assert_eq!(v["message"], "Impossible route between points");
    let stats = sim.control().stats();
    assert_eq!(stats.providers.osrm.not_found, 4);
    assert_eq!(stats.providers.osrm.bad_request, cases.len() as u64 - 2);
}

// ---------------------------------------------------------------------------------------------
// Nominatim

#[tokio::test]
async fn nominatim_search_shapes_and_rules() {
    let sim = start_instant().await;
    let ua = [("user-agent", UA)];
    let a = get(
        &sim,
        "/search?q=%20%20gangnam+%20STATION&format=jsonv2",
        &ua,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    let hits = v.as_array().unwrap();
    assert_eq!(hits.len(), 1);
    let h = &hits[0];
    assert!(h["lat"].is_string() && h["lon"].is_string());
    let lat: f64 = h["lat"].as_str().unwrap().parse().unwrap();
    let lon: f64 = h["lon"].as_str().unwrap().parse().unwrap();
    assert!((lat - GANGNAM.0).abs() < 1e-6 && (lon - GANGNAM.1).abs() < 1e-6);
    assert!(h["place_id"].is_u64() && h["osm_id"].is_u64());
    assert_eq!(h["osm_type"], "node");
    assert_eq!(h["category"], "railway");
    assert!(h.get("class").is_none());
    assert_eq!(h["place_rank"], 30);
    assert!(h["importance"].is_f64());
    assert_eq!(h["name"], "Gangnam Station");
    assert!(h["display_name"].as_str().unwrap().contains("Seoul"));
    assert!(h["licence"].as_str().unwrap().contains("OpenStreetMap"));
    let bb = h["boundingbox"].as_array().unwrap();
    assert_eq!(bb.len(), 4);
    assert!(bb.iter().all(Value::is_string));

    // Korean name, json format (class instead of category), limit.
    let v = get(
        &sim,
        "/search?q=%EA%B0%95%EB%82%A8%EC%97%AD&format=json",
        &ua,
    )
    .await
    .json();
    assert_eq!(v[0]["class"], "railway");
    assert!(v[0].get("category").is_none());
    let v = get(&sim, "/search?q=Eiffel+Tower&limit=1", &ua)
        .await
        .json();
    assert_eq!(v.as_array().unwrap().len(), 1);

    // Miss → [].
    let a = get(&sim, "/search?q=nowhere+in+particular&format=jsonv2", &ua).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, b"[]");

    // Missing q, bad limit, bad UTF-8 → 400 in Nominatim's shape.
    for path in [
        "/search?format=jsonv2",
        "/search?q=&format=jsonv2",
        "/search?q=x&limit=many",
        "/search?q=%FF",
        "/search?q=x&format=html",
    ] {
        let a = get(&sim, path, &ua).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(a.json()["error"]["code"], 400, "{path}");
    }
    let v = get(&sim, "/search?format=jsonv2", &ua).await.json();
    assert_eq!(v["error"]["message"], "Nothing to search for.");

    // No User-Agent → 403 (reqwest sends none by default).
    let a = get(&sim, "/search?q=Gangnam+Station", &[]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.json(),
        serde_json::json!({"error":{"code":403,"message":"Access blocked"}})
    );
    let s = sim.control().stats().providers.nominatim;
    assert_eq!(
        (s.ok, s.not_found, s.bad_request, s.unauthorized),
        (3, 1, 6, 1)
    );
}

// ---------------------------------------------------------------------------------------------
// Kakao Mobility

#[tokio::test]
async fn kakao_directions_shapes() {
    let sim = start_instant().await;
    let auth = [("authorization", KAKAO)];
    let path = format!(
        "/v1/directions?origin={},{},name=%EA%B0%95%EB%82%A8%EC%97%AD,angle=90&destination={},{}&waypoints={},{}&priority=TIME",
        GANGNAM.1, GANGNAM.0, BUSAN.1, BUSAN.0, CITY_HALL.1, CITY_HALL.0
    );
    let a = get(&sim, &path, &auth).await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    let trans_id = v["trans_id"].as_str().unwrap();
    assert!(!trans_id.is_empty() && trans_id.bytes().all(|c| c.is_ascii_hexdigit()));
    let r = &v["routes"][0];
    assert_eq!(r["result_code"], 0);
    assert_eq!(r["result_msg"], "길찾기 성공");
    let s = &r["summary"];
    assert!(s["distance"].is_u64() && s["duration"].is_u64());
    let expected = (haversine_m(GANGNAM, CITY_HALL) + haversine_m(CITY_HALL, BUSAN)) * 1.3;
    let d = s["distance"].as_u64().unwrap() as f64;
    assert!((d - expected).abs() <= 1.0, "{d} vs {expected}");
    let t = s["duration"].as_u64().unwrap() as f64;
    assert!((t - expected / 8.3).abs() <= 1.0);
    assert_eq!(s["origin"]["name"], "강남역");
    assert_eq!(s["origin"]["x"].as_f64(), Some(GANGNAM.1));
    assert_eq!(s["destination"]["y"].as_f64(), Some(BUSAN.0));
    assert_eq!(s["waypoints"].as_array().unwrap().len(), 1);
    assert_eq!(s["priority"], "TIME");
    assert!(s["fare"]["taxi"].as_u64().unwrap() > 4_800);
    assert_eq!(s["fare"]["toll"], 0);
    assert_eq!(s["bound"]["min_y"].as_f64(), Some(BUSAN.0));
    assert_eq!(s["bound"]["max_y"].as_f64(), Some(CITY_HALL.0));
    let sections = r["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 2);
    assert!(sections[0]["roads"][0]["vertexes"].is_array());
    assert_eq!(sections[0]["guides"][0]["type"], 100);
    assert_eq!(sections[1]["guides"][0]["type"], 101);

    // summary=true: sections keep only distance and duration, as Kakao documents.
    let v = get(&sim, &format!("{path}&summary=true"), &auth)
        .await
        .json();
    for section in v["routes"][0]["sections"].as_array().unwrap() {
        let keys: Vec<&String> = section.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["distance", "duration"]);
    }

    // Route failures are HTTP 200 with a result_code and no summary.
    let cases = [
        (GANGNAM, (GANGNAM.0 + 0.00001, GANGNAM.1), 104),
        ((-77.85, 166.67), GANGNAM, 102),
        (GANGNAM, (-77.85, 166.67), 103),
        (GANGNAM, (48.858_37, 2.294_481), 1),
    ];
    for (o, d, code) in cases {
        let a = get(
            &sim,
            &format!(
                "/v1/directions?origin={},{}&destination={},{}",
                o.1, o.0, d.1, d.0
            ),
            &auth,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        let v = a.json();
        assert_eq!(v["routes"][0]["result_code"], code, "{v}");
        assert!(v["routes"][0]["result_msg"].is_string());
        assert!(v["routes"][0].get("summary").is_none());
    }
    let v = get(
        &sim,
        "/v1/directions?origin=127.0,37.5&destination=127.1,37.6&waypoints=166.67,-77.85",
        &auth,
    )
    .await
    .json();
    assert_eq!(v["routes"][0]["result_code"], 101);

    // Bad parameters → 400 {"code":-2}.
    for bad in [
        "/v1/directions?destination=127.0,37.5",
        "/v1/directions?origin=127.0,37.5",
        "/v1/directions?origin=abc&destination=127.0,37.5",
        "/v1/directions?origin=127.0,37.5&destination=127.0,99",
        "/v1/directions?origin=%FF&destination=127.0,37.5",
        "/v1/directions?origin=127.0,37.5&destination=127.1,37.5&priority=FASTEST",
        "/v1/directions?origin=127.0,37.5&destination=127.1,37.5&waypoints=1,1|1,2|1,3|1,4|1,5|1,6",
    ] {
        let a = get(&sim, bad, &auth).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        let v = a.json();
        assert_eq!(v["code"], -2, "{bad}");
        assert!(v["msg"].is_string());
    }
}

#[tokio::test]
async fn kakao_auth_rules() {
    let sim = start_instant().await;
    let ok = "/v1/directions?origin=127.0,37.5&destination=127.1,37.6";
    for headers in [
        &[][..],
        &[("authorization", "KakaoAK ")][..],
        &[("authorization", "Bearer abc")][..],
        &[("authorization", "kakaoak abc")][..],
    ] {
        let a = get(&sim, ok, headers).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(a.json()["code"], -401);
        let a = get(&sim, "/v2/local/search/address.json?query=x", headers).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            a.json(),
            serde_json::json!({"errorType":"AccessDeniedError","message":"cannot find appkey"})
        );
    }
    assert_eq!(
        get(&sim, ok, &[("authorization", "KakaoAK anything")])
            .await
            .status,
        StatusCode::OK
    );

    // With a configured key only that key is accepted.
    let sim = start(SimArgs {
        kakao_key: Some("s3cret".to_owned()),
        ..SimArgs::instant()
    })
    .await;
    let a = get(&sim, ok, &[("authorization", "KakaoAK anything")]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = get(&sim, ok, &[("authorization", "KakaoAK s3cret")]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        sim.control()
            .stats()
            .providers
            .kakao_directions
            .unauthorized,
        1
    );
}

// ---------------------------------------------------------------------------------------------
// Kakao Local

#[tokio::test]
async fn kakao_local_shapes() {
    let sim = start_instant().await;
    let auth = [("authorization", KAKAO)];
    let a = get(
        &sim,
        "/v2/local/search/address.json?query=%EC%84%9C%EC%9A%B8+%EA%B0%95%EB%82%A8%EA%B5%AC+%EA%B0%95%EB%82%A8%EB%8C%80%EB%A1%9C+396",
        &auth,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert_eq!(v["meta"]["total_count"], 1);
    assert_eq!(v["meta"]["pageable_count"], 1);
    assert_eq!(v["meta"]["is_end"], true);
    let d = &v["documents"][0];
    assert_eq!(d["address_type"], "ROAD_ADDR");
    assert_eq!(d["address_name"], "서울 강남구 강남대로 396");
    assert!(d["x"].is_string() && d["y"].is_string());
    let x: f64 = d["x"].as_str().unwrap().parse().unwrap();
    let y: f64 = d["y"].as_str().unwrap().parse().unwrap();
    assert_eq!((y, x), GANGNAM);
    assert_eq!(d["road_address"]["zone_no"], "06232");
    assert!(d["road_address"]["x"].is_string());
    assert_eq!(d["address"]["region_2depth_name"], "강남구");
    assert_eq!(d["address"]["mountain_yn"], "N");

    // The English name also hits; a foreign entry and a miss do not.
    let v = get(
        &sim,
        "/v2/local/search/address.json?query=seoul+city+hall",
        &auth,
    )
    .await
    .json();
    assert_eq!(v["documents"][0]["road_address"]["road_name"], "세종대로");
    for q in ["Eiffel+Tower", "no+such+place"] {
        let a = get(
            &sim,
            &format!("/v2/local/search/address.json?query={q}"),
            &auth,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        let v = a.json();
        assert_eq!(v["documents"], serde_json::json!([]));
        assert_eq!(v["meta"]["total_count"], 0);
    }

    let a = get(&sim, "/v2/local/search/address.json", &auth).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.json(),
        serde_json::json!({"errorType":"MissingParameter","message":"query parameter required"})
    );
    for bad in [
        "page=0",
        "page=46",
        "size=31",
        "size=x",
        "analyze_type=fuzzy",
    ] {
        let a = get(
            &sim,
            &format!("/v2/local/search/address.json?query=COEX&{bad}"),
            &auth,
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(a.json()["errorType"], "InvalidArgument");
    }
}

// ---------------------------------------------------------------------------------------------
// Faults

type Headers = &'static [(&'static str, &'static str)];

fn paths() -> [(Provider, &'static str, Headers); 4] {
    [
        (
            Provider::Osrm,
            "/route/v1/driving/127.027621,37.497942;126.977945,37.566295",
            &[],
        ),
        (
            Provider::Nominatim,
            "/search?q=COEX&format=jsonv2",
            &[("user-agent", UA)],
        ),
        (
            Provider::KakaoDirections,
            "/v1/directions?origin=127.027621,37.497942&destination=126.977945,37.566295&summary=true",
            &[("authorization", KAKAO)],
        ),
        (
            Provider::KakaoLocal,
            "/v2/local/search/address.json?query=COEX",
            &[("authorization", KAKAO)],
        ),
    ]
}

fn assert_provider_shape(p: Provider, v: &Value, status: u16) {
    match p {
        Provider::Osrm => assert!(v["code"].is_string() && v["message"].is_string(), "{v}"),
        Provider::Nominatim => assert_eq!(v["error"]["code"], status, "{v}"),
        Provider::KakaoDirections => assert!(v["code"].is_i64() && v["msg"].is_string(), "{v}"),
        Provider::KakaoLocal => {
            assert!(
                v["errorType"].is_string() && v["message"].is_string(),
                "{v}"
            );
        }
    }
}

#[tokio::test]
async fn down_rate_limit_and_error_faults() {
    let sim = start_instant().await;
    let control = sim.control().clone();

    control
        .set_faults(
            routeq_sim::FaultTarget::All,
            FaultPatch {
                down: Some(true),
                ..FaultPatch::default()
            },
        )
        .unwrap();
    for (p, path, headers) in paths() {
        let a = get(&sim, path, headers).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{p}");
        assert_provider_shape(p, &a.json(), 503);
    }
    // Down wins even over bad credentials.
    assert_eq!(
        get(&sim, paths()[2].1, &[]).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    control
        .set_faults(
            routeq_sim::FaultTarget::All,
            FaultPatch {
                down: Some(false),
                rate_429: Some(1.0),
                retry_after_s: Some(7),
                ..FaultPatch::default()
            },
        )
        .unwrap();
    for (p, path, headers) in paths() {
        let a = get(&sim, path, headers).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{p}");
        assert_eq!(a.headers["retry-after"], "7", "{p}");
        let v = a.json();
        assert_provider_shape(p, &v, 429);
        if p == Provider::KakaoDirections {
            assert_eq!(
                v,
                serde_json::json!({"code":-10,"msg":"API limit exceeded"})
            );
        }
    }

    control
        .set_faults(
            routeq_sim::FaultTarget::All,
            FaultPatch {
                rate_429: Some(0.0),
                error_rate: Some(1.0),
                ..FaultPatch::default()
            },
        )
        .unwrap();
    for (p, path, headers) in paths() {
        let a = get(&sim, path, headers).await;
        assert!(a.status.is_server_error(), "{p}: {}", a.status);
        let v = a.json();
        assert_provider_shape(p, &v, 500);
        match p {
            Provider::Osrm => assert_eq!(v["code"], "InternalError"),
            Provider::KakaoDirections => assert_eq!(v["code"], -1),
            Provider::KakaoLocal => assert_eq!(v["errorType"], "InternalServerError"),
            Provider::Nominatim => {}
        }
    }

    let s = control.stats();
    for p in Provider::ALL {
        let ps = s.providers.get(p);
        let down = if p == Provider::KakaoDirections { 2 } else { 1 };
        assert_eq!((ps.down, ps.rate_limited, ps.error), (down, 1, 1), "{p}");
    }
    assert_eq!(s.total, 13);
}

#[tokio::test]
async fn malformed_bodies_are_invalid_json() {
    let sim = start(SimArgs {
        malformed_rate: 1.0,
        ..SimArgs::instant()
    })
    .await;
    for (p, path, headers) in paths() {
        let a = get(&sim, path, headers).await;
        assert_eq!(a.status, StatusCode::OK, "{p}");
        assert!(!a.body.is_empty());
        assert!(
            serde_json::from_slice::<Value>(&a.body).is_err(),
            "{p}: {}",
            String::from_utf8_lossy(&a.body)
        );
    }
    assert_eq!(sim.control().stats().providers.osrm.malformed, 1);
}

#[tokio::test]
async fn timeouts_hang_then_504() {
    let sim = start(SimArgs {
        timeout_rate: 1.0,
        hang_ms: 300,
        ..SimArgs::instant()
    })
    .await;
    let t0 = Instant::now();
    let a = get(&sim, paths()[0].1, &[]).await;
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(a.status, StatusCode::GATEWAY_TIMEOUT);
    assert_provider_shape(Provider::Osrm, &a.json(), 504);
    assert_eq!(sim.control().stats().providers.osrm.timeout, 1);
}

#[tokio::test]
async fn hanging_requests_end_at_shutdown() {
    let sim = start(SimArgs {
        timeout_rate: 1.0,
        hang_ms: 60_000,
        ..SimArgs::instant()
    })
    .await;
    let url = format!("{}{}", sim.base_url(), paths()[0].1);
    let pending = tokio::spawn(async move { client().get(url).send().await.map(|r| r.status()) });
    // Wait until the request has arrived, then stop the server.
    let t0 = Instant::now();
    while sim.control().stats().providers.osrm.timeout == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stopped = tokio::time::timeout(Duration::from_secs(10), sim.shutdown()).await;
    assert!(matches!(stopped, Ok(Ok(()))), "{stopped:?}");
    let status = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("the hanging request ended")
        .expect("task")
        .expect("answered");
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test]
async fn latency_is_applied() {
    let sim = start(SimArgs {
        latency_min_ms: 120,
        latency_max_ms: 160,
        ..SimArgs::default()
    })
    .await;
    for (p, path, headers) in paths() {
        let t0 = Instant::now();
        let a = get(&sim, path, headers).await;
        assert_eq!(a.status, StatusCode::OK, "{p}");
        assert!(t0.elapsed() >= Duration::from_millis(120), "{p}");
    }
}

#[tokio::test]
async fn quota_then_429() {
    let sim = start(SimArgs {
        quota: Some(2),
        ..SimArgs::instant()
    })
    .await;
    let (_, path, headers) = paths()[2];
    for _ in 0..2 {
        assert_eq!(get(&sim, path, headers).await.status, StatusCode::OK);
    }
    // Failed calls do not use quota: a bad request still answers 400.
    assert_eq!(
        get(&sim, "/v1/directions?origin=1,1", headers).await.status,
        StatusCode::BAD_REQUEST
    );
    let a = get(&sim, path, headers).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.json()["code"], -10);
    // Other providers have their own count.
    assert_eq!(get(&sim, paths()[0].1, &[]).await.status, StatusCode::OK);
    // Resetting the stats restarts the quota.
    sim.control().reset_stats();
    assert_eq!(get(&sim, path, headers).await.status, StatusCode::OK);
}

#[tokio::test]
async fn same_seed_same_outcomes() {
    async fn outcomes(seed: u64) -> Vec<u16> {
        let sim = start(SimArgs {
            seed,
            error_rate: 0.5,
            ..SimArgs::instant()
        })
        .await;
        let mut out = Vec::new();
        for _ in 0..40 {
            out.push(get(&sim, paths()[0].1, &[]).await.status.as_u16());
        }
        out
    }
    let a = outcomes(42).await;
    let b = outcomes(42).await;
    assert_eq!(a, b);
    let errors = a.iter().filter(|&&s| s == 500).count();
    assert!((8..=32).contains(&errors), "{errors} errors of 40");
    assert_ne!(a, outcomes(43).await);
}

// ---------------------------------------------------------------------------------------------
// Admin API, stats, metrics

#[tokio::test]
async fn admin_fault_table_over_http() {
    let sim = start_instant().await;
    let a = post_json(
        &sim,
        "/_sim/faults",
        r#"{"provider":"osrm","error_rate":1,"quota":5}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let table: FaultTable = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(table.osrm.error_rate, 1.0);
    assert_eq!(table.osrm.quota, Some(5));
    assert_eq!(table.nominatim.error_rate, 0.0);
    assert_eq!(table.kakao_local.latency_max_ms, 0);

    let a = get(&sim, "/_sim/faults", &[]).await;
    let again: FaultTable = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(again, table);
    assert_eq!(
        get(&sim, paths()[0].1, &[]).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );

    // "all" (the default target) and quota: null.
    let a = post_json(&sim, "/_sim/faults", r#"{"error_rate":0,"quota":null}"#).await;
    let table: FaultTable = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(table.osrm.quota, None);
    assert_eq!(table.osrm.error_rate, 0.0);

    for bad in [
        "not json",
        "[1]",
        r#"{"provider":"google"}"#,
        r#"{"eror_rate":1}"#,
        r#"{"error_rate":1.5}"#,
        r#"{"latency_min_ms":10,"latency_max_ms":5}"#,
        r#"{"down":"yes"}"#,
    ] {
        let a = post_json(&sim, "/_sim/faults", bad).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(a.json()["error"].is_string());
    }
    // A rejected patch changes nothing.
    assert_eq!(sim.control().faults(), table);
}

#[tokio::test]
async fn stats_reset_and_metrics() {
    let sim = start_instant().await;
    for _ in 0..5 {
        get(&sim, paths()[0].1, &[]).await;
    }
    get(&sim, "/search?q=nothing+here", &[("user-agent", UA)]).await;
    get(&sim, "/route/v1/car/abc", &[]).await;
    get(&sim, "/healthz", &[]).await;
    get(&sim, "/nope", &[]).await;

    let stats: Stats = serde_json::from_slice(&get(&sim, "/_sim/stats", &[]).await.body).unwrap();
    assert_eq!(stats.total, 7);
    assert_eq!(stats.providers.osrm.ok, 5);
    assert_eq!(stats.providers.osrm.bad_request, 1);
    assert_eq!(stats.providers.nominatim.not_found, 1);
    assert!(stats.providers.osrm.max_per_second >= 1);
    assert!(stats.providers.osrm.max_per_second <= 6);
    assert_eq!(stats, sim.control().stats());

    let a = get(&sim, "/metrics", &[]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(a.body).unwrap();
    assert!(text.contains("# TYPE routeq_sim_requests_total counter"));
    assert!(text.contains("# HELP routeq_sim_requests_total"));
    assert!(text.contains("routeq_sim_requests_total{provider=\"osrm\",outcome=\"ok\"} 5\n"));
    assert!(
        text.contains(
            "routeq_sim_requests_total{provider=\"nominatim\",outcome=\"not_found\"} 1\n"
        )
    );
    assert!(text.contains("routeq_sim_down{provider=\"kakao_local\"} 0\n"));
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (_, value) = line.rsplit_once(' ').expect("sample line");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }

    let a = post_json(&sim, "/_sim/stats/reset", "").await;
    assert_eq!(a.status, StatusCode::OK);
    let stats: Stats = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(stats, Stats::default());

    let h = get(&sim, "/healthz", &[]).await;
    assert_eq!((h.status, h.body.as_slice()), (StatusCode::OK, &b"ok"[..]));
}

#[tokio::test]
async fn per_second_peak_counts_a_burst() {
    let sim = start_instant().await;
    let url = format!("{}{}", sim.base_url(), paths()[0].1);
    let c = client();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (c, url) = (c.clone(), url.clone());
        tasks.push(tokio::spawn(async move { c.get(url).send().await.is_ok() }));
    }
    for t in tasks {
        assert!(t.await.unwrap());
    }
    let s = sim.control().stats().providers.osrm;
    assert_eq!(s.ok, 50);
    // 50 requests span at most two 1-second windows.
    assert!(s.max_per_second >= 25 && s.max_per_second <= 50, "{s:?}");
}

#[tokio::test]
async fn invalid_configuration_is_refused() {
    for args in [
        SimArgs {
            latency_min_ms: 300,
            latency_max_ms: 200,
            ..SimArgs::default()
        },
        SimArgs {
            error_rate: 1.5,
            ..SimArgs::default()
        },
        SimArgs {
            timeout_rate: -0.1,
            ..SimArgs::default()
        },
        SimArgs {
            kakao_key: Some(" ".to_owned()),
            ..SimArgs::default()
        },
    ] {
        let err = Simulator::bind(args).await.expect_err("refused");
        assert!(err.to_string().contains("invalid"), "{err}");
    }
    let args = SimArgs {
        kakao_key: Some("top-secret-key".to_owned()),
        ..SimArgs::default()
    };
    assert!(!format!("{args:?}").contains("top-secret-key"));
}

#[tokio::test]
async fn odd_input_never_breaks_the_server() {
    let sim = start_instant().await;
    let auth = [("authorization", KAKAO), ("user-agent", UA)];
    for path in [
        "/route/v1/driving/%",
        "/route/v1/driving/%zz,1;2,3",
        "/route/v1/driving/1,2;3,4?geometries=%FF",
        "/route/v1/driving/polyline(%FF)",
        "/route/v1/driving/polyline(abc",
        "/route/v1/driving/1e999,2;3,4",
        "/route/v1/driving/NaN,2;3,4",
        "/search?q=%&limit=%",
        "/search?&&&=&q",
        "/v1/directions?origin=1,2,name&destination=%",
        "/v1/directions?origin=1,2,angle=-5&destination=3,4",
        "/v2/local/search/address.json?query=%E0%A4&page=%",
        "/v2/local/search/address.json?query=x&size=99999999999999999999999",
    ] {
        let a = get(&sim, path, &auth).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}");
        let _ = a.json();
    }
    // Still alive, and every table entry resolves through Nominatim.
    for entry in addresses() {
        let a = get(
            &sim,
            &format!(
                "/search?q={}",
                entry.name.replace(' ', "+").replace('&', "%26")
            ),
            &auth,
        )
        .await;
        assert_eq!(a.json()[0]["place_id"], entry.place_id, "{}", entry.name);
    }
}
