//! The console's HTML: escaping, and the one page layout (inline CSS, no external assets).

use std::fmt::Write;

/// `s` safe inside HTML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Epoch ms as RFC 3339, or `-` for 0.
pub fn when(ms: u64) -> String {
    if ms == 0 {
        "-".into()
    } else {
        routeq_shared::job::rfc3339_ms(ms)
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}\
header{background:#1d2330;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}\
header a{color:#cfd8ff;text-decoration:none}header a.on{color:#fff;font-weight:600}\
header form{margin:0}main{padding:16px;max-width:1200px}\
table{border-collapse:collapse;background:#fff;margin:8px 0 16px}td,th{border:1px solid #dde;padding:4px 8px;text-align:left}\
th{background:#eef}.num{text-align:right;font-variant-numeric:tabular-nums}\
.cards{display:flex;flex-wrap:wrap;gap:8px}.card{background:#fff;border:1px solid #dde;padding:8px 12px;min-width:140px}\
.card b{display:block;font-size:22px}.open{color:#b00020;font-weight:600}.half_open{color:#b36b00}.closed{color:#1b7a1b}\
.paused{background:#ffe9b3;padding:8px;border:1px solid #e0b040}pre{background:#fff;border:1px solid #dde;padding:8px;overflow:auto}\
.err{background:#fde;border:1px solid #d88;padding:8px}button{cursor:pointer}";

/// A whole page: the navigation (with the pause switch and logout when `csrf` is a session's
/// token), then `body`.
pub fn page(
    title: &str,
    active: &str,
    csrf: Option<&str>,
    paused: Option<bool>,
    body: &str,
) -> String {
    let mut nav = String::new();
    if let Some(token) = csrf {
        for (href, label) in [
            ("/console", "Overview"),
            ("/console/jobs", "Jobs"),
            ("/console/dead-letters", "Dead letters"),
            ("/console/tenants", "Tenants & keys"),
        ] {
            let class = if label == active { " class=\"on\"" } else { "" };
            let _ = write!(nav, "<a href=\"{href}\"{class}>{label}</a>");
        }
        let (action, label) = if paused == Some(true) {
            ("/console/resume", "Resume consumption")
        } else {
            ("/console/pause", "Pause consumption")
        };
        let _ = write!(
            nav,
            "<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{t}\"><button id=\"pause-switch\">{label}</button></form>\
             <form method=\"post\" action=\"/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{t}\"><button>Log out</button></form>",
            t = esc(token)
        );
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · routeq console</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head>\
         <body><header><strong>routeq</strong>{nav}</header><main><h1>{title}</h1>{body}</main></body></html>",
        title = esc(title)
    )
}

/// A hidden CSRF field for a form.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}
