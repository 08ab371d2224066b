//! Contract tests of the provider adapters: each adapter against answers in its provider's own
//! format (`fixtures/`, see its README), served by a local HTTP server, checking both what the
//! adapter sends (paths, coordinate order, credentials) and how it classifies every answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use routeq_shared::job::{Coord, Profile};
use routeq_worker::providers::kakao_local::KakaoLocal;
use routeq_worker::providers::kakao_mobility::KakaoMobility;
use routeq_worker::providers::nominatim::Nominatim;
use routeq_worker::providers::osrm::Osrm;
use routeq_worker::providers::secret::ApiKey;
use routeq_worker::providers::{Directions, Geocoder, ProviderError, http};

/// One canned answer.
#[derive(Clone)]
struct Canned {
    status: u16,
    body: String,
    retry_after: Option<&'static str>,
    delay: Duration,
}

fn fixture(name: &str, status: u16) -> Canned {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    Canned {
        status,
        body: std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
        retry_after: None,
        delay: Duration::ZERO,
    }
}

fn raw(status: u16, body: &str) -> Canned {
    Canned {
        status,
        body: body.to_string(),
        retry_after: None,
        delay: Duration::ZERO,
    }
}

/// A request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: String,
    authorization: String,
    user_agent: String,
}

#[derive(Clone, Default)]
struct Server {
    /// Scenario (first path segment) → answer.
    answers: Arc<Mutex<HashMap<String, Canned>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn header(req: &Request, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn answer_for(s: &Server, req: &Request) -> Option<Canned> {
    let path = req.uri().path().to_string();
    s.seen.lock().expect("lock").push(Seen {
        path: path.clone(),
        query: req.uri().query().unwrap_or_default().to_string(),
        authorization: header(req, "authorization"),
        user_agent: header(req, "user-agent"),
    });
    let scenario = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    s.answers.lock().expect("lock").get(scenario).cloned()
}

async fn serve(State(s): State<Server>, req: Request) -> Response {
    let Some(c) = answer_for(&s, &req) else {
        return (StatusCode::NOT_FOUND, "no such scenario").into_response();
    };
    tokio::time::sleep(c.delay).await;
    let mut resp = (
        StatusCode::from_u16(c.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json;charset=UTF-8")],
        c.body,
    )
        .into_response();
    if let Some(ra) = c.retry_after {
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from_static(ra));
    }
    resp
}

impl Server {
    async fn start() -> (Server, SocketAddr) {
        let server = Server::default();
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (server, addr)
    }

    fn answer(&self, scenario: &str, canned: Canned) {
        self.answers
            .lock()
            .expect("lock")
            .insert(scenario.to_string(), canned);
    }

    fn last(&self) -> Seen {
        self.seen
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("a request")
    }
}

fn client() -> reqwest::Client {
    http::client("routeq-contract-tests/1").expect("client")
}

const T: Duration = Duration::from_secs(2);
const GANGNAM: Coord = Coord {
    lat: 37.497942,
    lon: 127.027621,
};
const SEOUL_STATION: Coord = Coord {
    lat: 37.554648,
    lon: 126.970702,
};

#[tokio::test]
async fn kakao_local_maps_its_answers() {
    let (srv, addr) = Server::start().await;
    let key = ApiKey::new("kakao-contract-key");
    let at = |s: &str| KakaoLocal::new(client(), &format!("http://{addr}/{s}"), key.clone());

    srv.answer("ok", fixture("kakao_local_ok.json", 200));
    let g = at("ok").geocode("서울역", T).await.expect("found");
    assert_eq!(
        (g.coord.lat, g.coord.lon),
        (37.554648, 126.970702),
        "x is longitude, y latitude"
    );
    assert_eq!(g.display_name, "서울 용산구 한강대로 405");
    let seen = srv.last();
    assert_eq!(seen.path, "/ok/v2/local/search/address.json");
    assert_eq!(seen.authorization, "KakaoAK kakao-contract-key");
    assert!(seen.query.contains("query="), "{}", seen.query);

    srv.answer("empty", fixture("kakao_local_empty.json", 200));
    assert_eq!(
        at("empty").geocode("nowhere", T).await,
        Err(ProviderError::NotFound)
    );

    srv.answer("denied", fixture("kakao_local_401.json", 401));
    match at("denied").geocode("서울역", T).await {
        Err(e @ ProviderError::Unauthorized(_)) => {
            assert!(!e.is_transient(), "a bad key is not retried");
            assert!(
                e.breaks_the_provider(),
                "a bad key counts toward the breaker: every call would be refused"
            );
            assert!(e.to_string().contains("AccessDeniedError"), "{e}");
        }
        other => panic!("{other:?}"),
    }

    let mut limited = fixture("kakao_local_429.json", 429);
    limited.retry_after = Some("3");
    srv.answer("limited", limited);
    assert_eq!(
        at("limited").geocode("서울역", T).await,
        Err(ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3))
        })
    );

    srv.answer(
        "garbled",
        raw(200, r#"{"meta": {"total_count": 1}, "documents": [{"x": "#),
    );
    assert!(matches!(
        at("garbled").geocode("서울역", T).await,
        Err(ProviderError::Malformed(_))
    ));
    srv.answer(
        "bad-coords",
        raw(200, r#"{"documents": [{"x": "east", "y": "37.5"}]}"#),
    );
    assert!(matches!(
        at("bad-coords").geocode("서울역", T).await,
        Err(ProviderError::Malformed(_))
    ));
}

#[tokio::test]
async fn kakao_mobility_maps_its_answers_including_200_with_an_error_inside() {
    let (srv, addr) = Server::start().await;
    let key = ApiKey::new("kakao-contract-key");
    let at = |s: &str| KakaoMobility::new(client(), &format!("http://{addr}/{s}"), key.clone());
    let via = Coord {
        lat: 37.52,
        lon: 127.01,
    };

    srv.answer("ok", fixture("kakao_mobility_ok.json", 200));
    let r = at("ok")
        .route(&[GANGNAM, via, SEOUL_STATION], Profile::Car, T)
        .await
        .expect("route");
    assert_eq!((r.distance_m, r.duration_s), (10486.0, 1748.0));
    // The roads' vertexes become one polyline: 3 distinct points, lat/lon order.
    assert_eq!(
        r.geometry,
        routeq_worker::providers::polyline::encode(&[
            (37.497942, 127.027621),
            (37.52, 127.01),
            (37.554648, 126.970702)
        ])
    );
    let seen = srv.last();
    assert_eq!(seen.path, "/ok/v1/directions");
    assert_eq!(seen.authorization, "KakaoAK kakao-contract-key");
    assert!(
        seen.query.contains("origin=127.027621%2C37.497942"),
        "origin is x,y = lon,lat: {}",
        seen.query
    );
    assert!(seen.query.contains("destination=126.970702%2C37.554648"));
    assert!(
        seen.query.contains("waypoints=127.010000%2C37.520000"),
        "{}",
        seen.query
    );

    srv.answer("too-close", fixture("kakao_mobility_104.json", 200));
    match at("too-close")
        .route(&[GANGNAM, GANGNAM], Profile::Car, T)
        .await
    {
        Err(e @ ProviderError::NoRoute(_)) => {
            assert!(e.is_domain() && !e.is_transient());
            assert_eq!(e.code().http_status(), 422);
            assert!(e.to_string().contains("104"), "{e}");
        }
        other => panic!("{other:?}"),
    }

    srv.answer("quota", fixture("kakao_mobility_quota_400.json", 400));
    assert!(matches!(
        at("quota")
            .route(&[GANGNAM, SEOUL_STATION], Profile::Car, T)
            .await,
        Err(ProviderError::RateLimited { .. })
    ));
    srv.answer("denied", fixture("kakao_mobility_401.json", 401));
    assert!(matches!(
        at("denied")
            .route(&[GANGNAM, SEOUL_STATION], Profile::Car, T)
            .await,
        Err(ProviderError::Unauthorized(_))
    ));
    srv.answer("maintenance", fixture("kakao_mobility_503.json", 503));
    let e = at("maintenance")
        .route(&[GANGNAM, SEOUL_STATION], Profile::Car, T)
        .await
        .expect_err("503");
    assert!(matches!(e, ProviderError::Unavailable(_)) && e.is_transient());

    // Kakao routes cars only: no call is made for another profile.
    let before = srv.seen.lock().expect("lock").len();
    assert!(matches!(
        at("ok")
            .route(&[GANGNAM, SEOUL_STATION], Profile::Foot, T)
            .await,
        Err(ProviderError::NoRoute(_))
    ));
    assert_eq!(srv.seen.lock().expect("lock").len(), before);
}

#[tokio::test]
async fn nominatim_maps_its_answers() {
    let (srv, addr) = Server::start().await;
    let at = |s: &str| Nominatim::new(client(), &format!("http://{addr}/{s}"));

    srv.answer("ok", fixture("nominatim_ok.json", 200));
    let g = at("ok").geocode("Seoul Station", T).await.expect("found");
    assert_eq!((g.coord.lat, g.coord.lon), (37.554648, 126.970702));
    assert_eq!(
        g.place_id, "241231847",
        "a numeric place_id is kept as text"
    );
    assert!(g.display_name.starts_with("Seoul Station"));
    let seen = srv.last();
    assert_eq!(seen.path, "/ok/search");
    assert!(seen.query.contains("format=jsonv2") && seen.query.contains("q=Seoul+Station"));
    assert_eq!(
        seen.user_agent, "routeq-contract-tests/1",
        "Nominatim requires an identifying User-Agent"
    );

    srv.answer("empty", fixture("nominatim_empty.json", 200));
    assert_eq!(
        at("empty").geocode("x", T).await,
        Err(ProviderError::NotFound)
    );
    srv.answer("error", fixture("nominatim_500.json", 500));
    let e = at("error").geocode("x", T).await.expect_err("500");
    assert!(matches!(e, ProviderError::Server(_)) && e.is_transient());
    assert_eq!(e.code().http_status(), 502);
    srv.answer(
        "blocked",
        raw(
            403,
            r#"{"error": {"code": 403, "message": "Access blocked"}}"#,
        ),
    );
    assert!(matches!(
        at("blocked").geocode("x", T).await,
        Err(ProviderError::Unauthorized(_))
    ));
    let mut limited = raw(
        429,
        r#"{"error": {"code": 429, "message": "Too Many Requests"}}"#,
    );
    limited.retry_after = Some("1");
    srv.answer("limited", limited);
    assert_eq!(
        at("limited").geocode("x", T).await,
        Err(ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        })
    );
}

#[tokio::test]
async fn osrm_maps_its_answers() {
    let (srv, addr) = Server::start().await;
    let at = |s: &str| Osrm::new(client(), &format!("http://{addr}/{s}"));

    srv.answer("ok", fixture("osrm_ok.json", 200));
    let r = at("ok")
        .route(&[GANGNAM, SEOUL_STATION], Profile::Car, T)
        .await
        .expect("route");
    assert_eq!((r.distance_m, r.duration_s), (10486.5, 1263.4));
    assert_eq!(r.geometry, "yx}cFmwbgWe`Jpb`@");
    assert_eq!(
        srv.last().path,
        "/ok/route/v1/driving/127.027621,37.497942;126.970702,37.554648",
        "OSRM takes lon,lat pairs"
    );

    for (scenario, file) in [
        ("no-route", "osrm_no_route.json"),
        ("no-segment", "osrm_no_segment.json"),
    ] {
        srv.answer(scenario, fixture(file, 400));
        match at(scenario)
            .route(&[GANGNAM, SEOUL_STATION], Profile::Car, T)
            .await
        {
            Err(e @ ProviderError::NoRoute(_)) => {
                assert!(e.is_domain() && !e.is_transient(), "{e}");
            }
            other => panic!("{scenario}: {other:?}"),
        }
    }
    // Older servers answer a route failure with 200 and the code: still a domain answer.
    srv.answer("no-route-200", fixture("osrm_no_route.json", 200));
    assert!(matches!(
        at("no-route-200")
            .route(&[GANGNAM, SEOUL_STATION], Profile::Car, T)
            .await,
        Err(ProviderError::NoRoute(_))
    ));
    srv.answer("invalid", fixture("osrm_invalid_query.json", 400));
    assert!(matches!(
        at("invalid")
            .route(&[GANGNAM, SEOUL_STATION], Profile::Bike, T)
            .await,
        Err(ProviderError::Refused(_))
    ));
    assert!(srv.last().path.starts_with("/invalid/route/v1/bike/"));
    srv.answer(
        "truncated",
        raw(200, r#"{"code":"Ok","routes":[{"distance":"#),
    );
    assert!(matches!(
        at("truncated")
            .route(&[GANGNAM, SEOUL_STATION], Profile::Car, T)
            .await,
        Err(ProviderError::Malformed(_))
    ));
}

#[tokio::test]
async fn transport_failures_are_timeouts_or_unavailable() {
    let (srv, addr) = Server::start().await;
    let mut slow = fixture("osrm_ok.json", 200);
    slow.delay = Duration::from_secs(3);
    srv.answer("slow", slow);
    let osrm = Osrm::new(client(), &format!("http://{addr}/slow"));
    assert_eq!(
        osrm.route(
            &[GANGNAM, SEOUL_STATION],
            Profile::Car,
            Duration::from_millis(100)
        )
        .await,
        Err(ProviderError::Timeout)
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let nobody = Nominatim::new(client(), &format!("http://{closed}"));
    let e = nobody.geocode("x", T).await.expect_err("refused");
    assert!(matches!(e, ProviderError::Unavailable(_)) && e.is_transient());
    assert_eq!(e.code().http_status(), 503);
}
