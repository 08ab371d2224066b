//! The web console on the gateway's admin listener: refusals without the admin credential and of
//! cross-site posts (plain HTTP), and a real headless Chromium that watches the overview move
//! under load, finds a job, and replays a dead letter until its job completes.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use routeq_testkit::TestGateway;
use routeq_testkit::proc::TempDir;

const CREDENTIAL: &str = "console-test-credential-0123456789";

/// A gateway with an admin listener and the console behind `CREDENTIAL`.
fn with_console(dir: &TempDir) -> impl FnOnce(&mut routeq_gateway::GatewayConfig) {
    let file = dir.path("credential");
    std::fs::write(&file, CREDENTIAL).expect("credential file");
    move |cfg| {
        cfg.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
        cfg.console_credential_file = Some(file);
    }
}

/// An `application/x-www-form-urlencoded` body.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Logs in; returns the session cookie (`name=value`).
async fn login(http: &reqwest::Client, gw: &TestGateway, credential: &str) -> reqwest::Response {
    http.post(gw.admin_url("/console/login"))
        .header(ORIGIN, gw.admin_url(""))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("credential", credential)]))
        .send()
        .await
        .expect("login")
}

fn session_cookie(res: &reqwest::Response) -> String {
    let set = res
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    set.split(';').next().expect("name=value").to_string()
}

/// The CSRF token rendered into a console page.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..].split('"').next().expect("token").to_string()
}

async fn paused(gw: &TestGateway) -> bool {
    let mut c = gw.redis().await;
    let keys = gw.store().keys().clone();
    let v: Option<String> = redis::AsyncCommands::get(&mut c, keys.paused())
        .await
        .expect("get");
    v.is_some()
}

#[tokio::test]
async fn the_console_refuses_without_the_admin_credential_and_refuses_cross_site_posts() {
    let dir = TempDir::new("console-auth");
    let gw = TestGateway::start(with_console(&dir)).await;
    let http = no_redirects();

    // Not on the public listener at all.
    let res = http.get(gw.url("/console")).send().await.expect("get");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Without a session: pages go to the login form, the JSON endpoint answers 401.
    let res = http
        .get(gw.admin_url("/console"))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/console/login");
    for path in ["/console/jobs", "/console/dead-letters", "/console/tenants"] {
        let res = http.get(gw.admin_url(path)).send().await.expect("get");
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
    }
    let res = http
        .get(gw.admin_url("/console/api/overview"))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // A wrong credential, and a tenant's API key, are not the admin credential.
    let (_, tenant_key) = gw.api_keys().create("t-console", 0, 0).await.expect("key");
    for wrong in ["", "not-the-credential", tenant_key.as_str()] {
        let res = login(&http, &gw, wrong).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{wrong}");
        assert!(res.headers().get(SET_COOKIE).is_none());
    }
    // An action without a session is refused and does nothing.
    let res = http
        .post(gw.admin_url("/console/pause"))
        .header(ORIGIN, gw.admin_url(""))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("csrf", "x")]))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(!paused(&gw).await);

    // A login from another site is refused too (login CSRF).
    let res = http
        .post(gw.admin_url("/console/login"))
        .header(ORIGIN, "http://evil.example")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("credential", CREDENTIAL)]))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let res = login(&http, &gw, CREDENTIAL).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&res);
    let page = http
        .get(gw.admin_url("/console"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("overview");
    assert_eq!(page.status(), StatusCode::OK);
    let token = csrf_of(&page.text().await.expect("html"));

    // Cross-site posts with the session: another Origin, a cross-site fetch, no origin at all,
    // or a missing or foreign CSRF token — all refused, nothing paused.
    let post = |origin: Option<&str>, site: Option<&str>, csrf: &str| {
        let mut req = http
            .post(gw.admin_url("/console/pause"))
            .header(COOKIE, &cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&[("csrf", csrf)]));
        if let Some(o) = origin {
            req = req.header(ORIGIN, o);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        req.send()
    };
    let own = gw.admin_url("");
    for (origin, site, csrf) in [
        (Some("http://evil.example"), None, token.as_str()),
        (Some(own.as_str()), Some("cross-site"), token.as_str()),
        (None, None, token.as_str()),
        (Some(own.as_str()), None, ""),
        (Some(own.as_str()), None, "0000"),
    ] {
        let res = post(origin, site, csrf).await.expect("post");
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "{origin:?} {site:?} {csrf:?}"
        );
        assert!(!paused(&gw).await, "{origin:?} {site:?} {csrf:?}");
    }
    // The console's own post works.
    let res = post(Some(&own), Some("same-origin"), &token)
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(paused(&gw).await);
    // A session cookie that was tampered with is no session.
    let forged = format!("{cookie}0");
    let res = http
        .get(gw.admin_url("/console/api/overview"))
        .header(COOKIE, forged)
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = http
        .get(gw.admin_url("/console/api/overview"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::OK);
    let v: serde_json::Value = res.json().await.expect("json");
    assert!(v["paused"].is_object(), "{v}");
}

#[tokio::test]
async fn a_console_credential_without_an_admin_listener_is_refused_at_start() {
    let dir = TempDir::new("console-cfg");
    let file = dir.path("credential");
    std::fs::write(&file, CREDENTIAL).expect("file");
    let mut cfg = routeq_gateway::GatewayConfig::for_tests(routeq_testkit::REDIS, "{console-cfg}")
        .expect("cfg");
    cfg.console_credential_file = Some(file.clone());
    let err = routeq_gateway::Application::build(cfg.clone())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("--admin-listen"), "{err}");
    std::fs::write(&file, "short").expect("file");
    cfg.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
    let err = routeq_gateway::Application::build(cfg)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("at least 16"), "{err}");
}
