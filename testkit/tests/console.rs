//! The web console on the gateway's admin listener: refusals without the admin credential and of
//! cross-site posts (plain HTTP), and a real headless Chromium that watches the overview move
//! under load, finds a job, and replays a dead letter until its job completes.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use routeq_shared::redis::record::f;
use routeq_sim::SimArgs;
use routeq_testkit::browser::Browser;
use routeq_testkit::proc::TempDir;
use routeq_testkit::{Fleet, TestGateway, trip};

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
    // A purge needs its confirmation ticked, even from the console itself.
    let res = http
        .post(gw.admin_url("/console/dead-letters/01a21000-0000-7000-8000-000000000000/purge"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &own)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &token)]))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.expect("html").contains("INVALID_FIELD"));
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

/// Where the screenshots go: docs/console/ with ROUTEQ_UPDATE_SCREENSHOTS=1, else a temp dir.
fn shots(tmp: &TempDir) -> PathBuf {
    if std::env::var_os("ROUTEQ_UPDATE_SCREENSHOTS").is_some() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
        std::fs::create_dir_all(&dir).expect("docs/console");
        dir
    } else {
        tmp.0.clone()
    }
}

async fn number(b: &mut Browser, id: &str) -> f64 {
    b.text(id).await.trim().parse().unwrap_or(f64::NAN)
}

#[tokio::test]
async fn a_real_browser_watches_the_overview_move_under_load_finds_a_job_and_replays_a_dead_letter()
{
    let dir = TempDir::new("console-browser");
    let sim = SimArgs {
        latency_min_ms: 20,
        latency_max_ms: 60,
        ..SimArgs::instant()
    };
    let fleet = Fleet::start_with(sim, with_console(&dir)).await;
    let _w1 = fleet.worker_process("console-1", &["--concurrency", "4"]);
    let _w2 = fleet.worker_process("console-2", &["--concurrency", "4"]);
    let out = shots(&dir);
    let console = |path: &str| fleet.gateway.admin_url(path);

    let mut b = Browser::start().await;
    // Not logged in: the console sends the browser to its login form.
    b.goto(&console("/console")).await;
    b.wait_for("location.pathname === '/console/login' && !!document.getElementById('credential')")
        .await;
    b.screenshot(&out.join("login.png")).await;
    b.eval(&format!(
        "document.getElementById('credential').value = {CREDENTIAL:?}; document.getElementById('login').click(); true"
    ))
    .await;
    b.wait_for("location.pathname === '/console' && document.getElementById('updated').textContent.length > 0")
        .await;

    // Load: about 40 submissions a second for a few seconds.
    let loader = {
        let http = fleet.http.clone();
        let base = fleet.url("");
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..200u32 {
                ids.push(routeq_testkit::http::submit(&http, &base, &trip(i)).await);
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            ids
        })
    };
    // The numbers move while the load runs: read them twice, seconds apart.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let first = (
        b.text("updated").await,
        number(&mut b, "arrival_per_s").await,
        number(&mut b, "completion_per_s").await,
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = (
        b.text("updated").await,
        number(&mut b, "arrival_per_s").await,
        number(&mut b, "completion_per_s").await,
    );
    assert_ne!(first.0, second.0, "the overview did not refresh");
    assert!(second.1 > 0.0 && second.2 > 0.0, "{first:?} {second:?}");
    assert!(
        first.1 != second.1 || first.2 != second.2,
        "nothing moved: {first:?} {second:?}"
    );
    let workers = b.text("workers").await;
    assert!(
        workers.contains("console-1") && workers.contains("console-2"),
        "{workers}"
    );
    b.screenshot(&out.join("overview.png")).await;
    let ids = loader.await.expect("loader");

    // Find a job by id through the form.
    let id = ids.last().expect("ids").clone();
    fleet.finished(&id, Duration::from_secs(20)).await;
    b.goto(&console("/console/jobs")).await;
    b.eval(&format!(
        "document.getElementById('q').value = {id:?}; document.getElementById('find').click(); true"
    ))
    .await;
    b.wait_for(&format!(
        "(document.getElementById('job') || {{}}).textContent.includes({id:?})"
    ))
    .await;
    let job = b.text("job").await;
    assert!(job.contains("succeeded"), "{job}");
    b.screenshot(&out.join("jobs.png")).await;

    // A dead letter: a job parked while the fleet is paused, replayed from the console.
    let conn = fleet.redis().await;
    routeq_shared::admin::pause::pause(&conn, &fleet.keys, "test")
        .await
        .expect("pause");
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let parked = fleet.submit(&trip(999)).await;
    let entry = fleet.job_field(&parked, f::ENTRY).await.expect("entry id");
    let dl = routeq_shared::redis::deadletters::DeadLetters::new(
        conn.clone(),
        fleet.keys.clone(),
        60_000,
        false,
    );
    dl.park(
        &parked,
        &entry,
        "test-poison",
        "parked by the test",
        routeq_shared::job::now_ms(),
    )
    .await
    .expect("park");
    routeq_shared::admin::pause::resume(&conn, &fleet.keys)
        .await
        .expect("resume");
    b.goto(&console("/console/dead-letters")).await;
    let listed = b.text("dead-letters").await;
    assert!(listed.contains(&parked), "{listed}");
    b.screenshot(&out.join("dead-letters.png")).await;
    b.goto(&console(&format!("/console/dead-letters/{parked}")))
        .await;
    b.wait_for("!!document.getElementById('replay')").await;
    b.screenshot(&out.join("dead-letter.png")).await;
    b.eval("document.getElementById('replay').click(); true")
        .await;
    b.wait_for(&format!(
        "(document.getElementById('result') || {{}}).textContent === 'replayed {parked}'"
    ))
    .await;
    // The replayed job completes: the console's job page says so.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        b.goto(&console(&format!("/console/jobs?q={parked}"))).await;
        if b.text("job").await.contains("succeeded") {
            break;
        }
        assert!(Instant::now() < until, "the replayed job never completed");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (status, _) = fleet.finished(&parked, Duration::from_secs(5)).await;
    assert_eq!(status, StatusCode::OK);

    // Tenants and keys: a key created in the browser is shown once.
    b.goto(&console("/console/tenants")).await;
    b.eval("document.getElementById('tenant').value = 'browser-tenant'; document.getElementById('create').click(); true")
        .await;
    let key = b
        .wait_for("(document.getElementById('key') || {}).textContent")
        .await;
    assert!(key.as_str().is_some_and(|k| k.starts_with("rq_")), "{key}");
    b.goto(&console("/console/tenants")).await;
    let keys = b.text("keys").await;
    assert!(keys.contains("browser-tenant"), "{keys}");
    assert!(
        !keys.contains(key.as_str().unwrap_or("-")),
        "a key is shown only once"
    );
    b.screenshot(&out.join("tenants.png")).await;
}
