//! `GET /docs`: the API description rendered on the server as one HTML page that needs no
//! JavaScript and loads nothing from elsewhere. Per operation: its parameters, its request body
//! (the schema's fields, each with type, limits and description, and the examples), its answers
//! (status, codes, headers, one example each) and a curl line to try it.

use std::fmt::Write as _;

use serde_json::Value;

const STYLE: &str = r#"
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 64rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  code, pre { font: 13px ui-monospace, monospace; background: #f4f4f4; }
  pre { padding: .6rem; overflow-x: auto; margin: .3rem 0; }
  h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2.5rem; }
  h3 { margin-bottom: .3rem; }
  .method { display: inline-block; min-width: 4.5rem; font-weight: bold; color: #fff; background: #3b6; padding: 0 .4rem; border-radius: 3px; }
  .method.post { background: #36b; } .method.delete { background: #b33; } .method.put { background: #a70; }
  table { border-collapse: collapse; margin: .3rem 0; } td, th { border: 1px solid #ddd; padding: .2rem .5rem; text-align: left; vertical-align: top; }
  nav a { margin-right: .8rem; }
  details { margin: .2rem 0; }
"#;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pretty(v: &Value) -> String {
    esc(&serde_json::to_string_pretty(v).unwrap_or_default())
}

/// The schema `$ref` names, resolved against the document's components.
fn resolve<'a>(schema: &'a Value, doc: &'a Value) -> (&'a Value, Option<&'a str>) {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            (&doc["components"]["schemas"][name], Some(name))
        }
        None => (schema, None),
    }
}

/// A short type for a schema: `string (uuid)`, `integer 500–600000`, `Place`, `[Place]`, `A | B`.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or_default().to_string();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(items) = schema[key].as_array() {
            return items.iter().map(type_of).collect::<Vec<_>>().join(" | ");
        }
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ if schema["properties"].is_object() => "object".into(),
        _ => "any".into(),
    };
    let mut out = if ty == "array" {
        format!("[{}]", type_of(&schema["items"]))
    } else {
        ty
    };
    if let Some(f) = schema["format"].as_str() {
        let _ = write!(out, " ({f})");
    }
    let mut limits = Vec::new();
    for (key, label) in [
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("maxItems", "items ≤"),
    ] {
        if let Some(v) = schema.get(key) {
            limits.push(format!("{label} {v}"));
        }
    }
    if let Some(e) = schema["enum"].as_array() {
        let values: Vec<String> = e.iter().map(|v| v.to_string()).collect();
        limits.push(format!("one of {}", values.join(", ")));
    }
    if let Some(d) = schema.get("default") {
        limits.push(format!("default {d}"));
    }
    if !limits.is_empty() {
        let _ = write!(out, "; {}", limits.join(", "));
    }
    out
}

/// A table of an object schema's fields (and, for a oneOf, one table per choice).
fn fields(schema: &Value, doc: &Value, out: &mut String, depth: usize) {
    let (schema, name) = resolve(schema, doc);
    if depth > 3 {
        return;
    }
    if let Some(name) = name {
        let _ = write!(out, "<p><b>{}</b>", esc(name));
        if let Some(d) = schema["description"].as_str() {
            let _ = write!(out, ": {}", esc(d));
        }
        out.push_str("</p>");
    }
    if let Some(choices) = schema["oneOf"].as_array() {
        out.push_str("<p>One of:</p><ul>");
        for c in choices {
            out.push_str("<li>");
            if let Some(d) = c["description"].as_str() {
                let _ = write!(out, "{} ", esc(d));
            }
            fields(c, doc, out, depth + 1);
            out.push_str("</li>");
        }
        out.push_str("</ul>");
        return;
    }
    if let Some(parts) = schema["allOf"].as_array() {
        // A composed body (the route request plus the submit's own fields): each part's fields.
        for part in parts {
            fields(part, doc, out, depth + 1);
        }
        if schema["unevaluatedProperties"] == Value::Bool(false) {
            out.push_str("<p>Other fields are refused.</p>");
        }
        return;
    }
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    out.push_str(
        "<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>",
    );
    let mut nested = Vec::new();
    for (k, v) in props {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(k),
            esc(&type_of(v)),
            if required.contains(&k.as_str()) {
                "yes"
            } else {
                "no"
            },
            esc(v["description"].as_str().unwrap_or_default())
        );
        let inner = if v["type"] == "array" { &v["items"] } else { v };
        if let Some(r) = inner["$ref"].as_str()
            && !nested.contains(&r)
        {
            nested.push(r);
        }
    }
    out.push_str("</table>");
    if schema["additionalProperties"] == Value::Bool(false) {
        out.push_str("<p>Other fields are refused.</p>");
    }
    for r in nested {
        let name = r.rsplit('/').next().unwrap_or_default();
        if matches!(name, "Code" | "JobState" | "Profile" | "Empty") {
            continue;
        }
        let _ = write!(out, "<details><summary>{}</summary>", esc(name));
        fields(&serde_json::json!({ "$ref": r }), doc, out, depth + 1);
        out.push_str("</details>");
    }
}

/// The first example of a media object.
fn first_example(media: &Value) -> Option<(String, &Value)> {
    if let Some(e) = media.get("example") {
        return Some((String::new(), e));
    }
    media["examples"]
        .as_object()
        .and_then(|m| m.iter().next())
        .map(|(name, e)| (name.clone(), &e["value"]))
}

fn curl(method: &str, path: &str, op: &Value) -> String {
    let mut line = String::from("curl -i");
    if method != "get" {
        let _ = write!(line, " -X {}", method.to_uppercase());
    }
    let mut url = path.to_string();
    for p in op["parameters"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default();
        if p["in"] == "path" {
            let sample = if name.contains("user") {
                "user-1"
            } else {
                "0192f5e4-6c1a-7b3e-9d2a-5f4c3b2a1908"
            };
            url = url.replace(&format!("{{{name}}}"), sample);
        }
    }
    if path == "/v1/stations" {
        url.push_str("?lat=37.5547&lon=126.9707");
    }
    if path == "/v1/routes/{id}" && method == "get" {
        url.push_str("?wait=10");
    }
    let _ = write!(line, " -H 'Authorization: Bearer $ROUTEQ_KEY'");
    if let Some((_, body)) = op["requestBody"]["content"]["application/json"]
        .as_object()
        .and_then(|m| first_example(&Value::Object(m.clone())).map(|(n, v)| (n, v.clone())))
    {
        let _ = write!(
            line,
            " -H 'Content-Type: application/json' -d '{}'",
            serde_json::to_string(&body).unwrap_or_default()
        );
    }
    if path == "/v1/routes" && method == "post" {
        line.push_str(" -H 'Prefer: wait=10'");
    }
    let _ = write!(line, " \"$BASE{url}\"");
    line
}

/// The page for `doc` (the JSON of the OpenAPI document).
pub fn render(doc: &Value) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} API</title><style>{STYLE}</style></head><body>",
        esc(doc["info"]["title"].as_str().unwrap_or("routeq"))
    );
    let _ = write!(
        out,
        "<h1>{} API</h1><p>{}</p><p>The machine-readable description: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI 3.1). This page is rendered by the gateway, with its own limits; it needs no JavaScript. In the curl lines, <code>$BASE</code> is the gateway's URL and <code>$ROUTEQ_KEY</code> an API key.</p>",
        esc(doc["info"]["title"].as_str().unwrap_or("routeq")),
        esc(doc["info"]["description"].as_str().unwrap_or_default())
    );
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    out.push_str("<nav>");
    for (path, item) in &paths {
        for (method, _) in item.as_object().into_iter().flatten() {
            let _ = write!(
                out,
                "<a href=\"#{}-{}\">{} {}</a>",
                method,
                esc(&path.replace(['/', '{', '}'], "_")),
                method.to_uppercase(),
                esc(path)
            );
        }
    }
    out.push_str("</nav>");
    for (path, item) in &paths {
        for (method, op) in item.as_object().into_iter().flatten() {
            let _ = write!(
                out,
                "<h2 id=\"{}-{}\"><span class=\"method {}\">{}</span> <code>{}</code></h2><p><b>{}</b></p><p>{}</p>",
                method,
                esc(&path.replace(['/', '{', '}'], "_")),
                method,
                method.to_uppercase(),
                esc(path),
                esc(op["summary"].as_str().unwrap_or_default()),
                esc(op["description"].as_str().unwrap_or_default())
            );
            let _ = write!(
                out,
                "<h3>Try it</h3><pre>{}</pre>",
                esc(&curl(method, path, op))
            );
            if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
                out.push_str("<h3>Parameters</h3><table><tr><th>name</th><th>in</th><th>type</th><th>required</th><th>description</th></tr>");
                for p in params {
                    let _ = write!(
                        out,
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(p["name"].as_str().unwrap_or_default()),
                        esc(p["in"].as_str().unwrap_or_default()),
                        esc(&type_of(&p["schema"])),
                        if p["required"] == true { "yes" } else { "no" },
                        esc(p["description"].as_str().unwrap_or_default())
                    );
                }
                out.push_str("</table>");
            }
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for (ct, media) in content {
                    let _ = write!(out, "<h3>Request body <code>{}</code></h3>", esc(ct));
                    fields(&media["schema"], doc, &mut out, 0);
                    if let Some(examples) = media["examples"].as_object() {
                        for (name, e) in examples {
                            let _ = write!(
                                out,
                                "<p>Example <i>{}</i>: {}</p><pre>{}</pre>",
                                esc(name),
                                esc(e["summary"].as_str().unwrap_or_default()),
                                pretty(&e["value"])
                            );
                        }
                    } else if let Some(e) = media.get("example") {
                        let _ = write!(out, "<p>Example:</p><pre>{}</pre>", pretty(e));
                    }
                }
            }
            out.push_str("<h3>Responses</h3>");
            for (status, res) in op["responses"].as_object().into_iter().flatten() {
                let _ = write!(
                    out,
                    "<details><summary><b>{}</b> {}</summary>",
                    esc(status),
                    esc(res["description"].as_str().unwrap_or_default())
                );
                if let Some(headers) = res["headers"].as_object() {
                    out.push_str("<table><tr><th>header</th><th>description</th></tr>");
                    for (h, v) in headers {
                        let _ = write!(
                            out,
                            "<tr><td><code>{}</code></td><td>{}</td></tr>",
                            esc(h),
                            esc(v["description"].as_str().unwrap_or_default())
                        );
                    }
                    out.push_str("</table>");
                }
                for (ct, media) in res["content"].as_object().into_iter().flatten() {
                    let _ = write!(
                        out,
                        "<p><code>{}</code>: {}</p>",
                        esc(ct),
                        esc(&type_of(&media["schema"]))
                    );
                    if let Some((name, e)) = first_example(media) {
                        let _ =
                            write!(out, "<p>Example {}</p><pre>{}</pre>", esc(&name), pretty(e));
                    }
                }
                out.push_str("</details>");
            }
        }
    }
    out.push_str(
        "<h2 id=\"codes\">Codes</h2><table><tr><th>code</th><th>status</th><th>meaning</th></tr>",
    );
    for (code, v) in doc["components"]["schemas"]["Code"]["x-codes"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(code),
            v["status"],
            esc(v["title"].as_str().unwrap_or_default())
        );
    }
    out.push_str("</table></body></html>\n");
    out
}
