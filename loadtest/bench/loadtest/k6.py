"""Running k6 and reading what it leaves: the summary export (handleSummary data), its thresholds
and checks with pass/fail, the per-sample CSV, and k6's own HTML report (the web dashboard's
export, written offline beside the Markdown report), titled with the scenario and git commit."""

import csv
import json
import os
import re
import subprocess
import time

from fleet import log

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
K6_DIR = os.path.join(ROOT, "loadtest", "k6")


# ---------------------------------------------------------------- the run's identity

def git_commit():
    """Short hash of HEAD, with `-dirty` when tracked files differ from it (reports excluded:
    rerunning a scenario rewrites its own report), or `unknown` outside a git checkout."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)loadtest/reports"], capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


def duration_s(text):
    """Seconds of a k6 duration (`90`, `45s`, `1m30s`, `1h`, `500ms`)."""
    text = str(text).strip()
    if re.fullmatch(r"[0-9.]+", text):
        return float(text)
    parts = re.findall(r"([0-9.]+)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a k6 duration: {text!r}")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


def dashboard_period(expected_s):
    """The web dashboard's aggregation period for a run expected to last `expected_s`: about 20
    points or more, between 100 ms and 1 s. k6 writes no HTML report for a run shorter than about
    two periods (10 s by default, which a smoke run never reaches); for long runs the dashboard
    itself widens the period to stay under 2880 points."""
    ms = int(min(1000, max(100, expected_s * 1000 / 20)))
    return "1s" if ms == 1000 else f"{ms}ms"


# ---------------------------------------------------------------- running k6

def run_k6(a, script, env, out_dir, tag, sampler=None, expected_s=60.0, html=True, timeout_s=None):
    """Runs one k6 script; returns its exit code, summary, CSV path, wall clock and HTML report."""
    summary = os.path.join(out_dir, f"{tag}.summary.json")
    csv_path = os.path.join(out_dir, f"{tag}.csv")
    html_path = os.path.join(out_dir, f"{tag}.html")
    full_env = dict(os.environ)
    full_env.update({k: str(v) for k, v in env.items()})
    full_env.update(SUMMARY_JSON=summary, K6_CSV_TIME_FORMAT="unix_milli", K6_NO_USAGE_REPORT="true",
                    GIT_COMMIT=a.commit)
    period = None
    if html:
        period = a.dashboard_period or dashboard_period(expected_s)
        if os.path.exists(html_path):
            os.remove(html_path)  # a stale report of an earlier run must not pass for this one
        full_env.update(K6_WEB_DASHBOARD="true", K6_WEB_DASHBOARD_PORT="-1", K6_WEB_DASHBOARD_PERIOD=period,
                        K6_WEB_DASHBOARD_EXPORT=html_path, K6_WEB_DASHBOARD_OPEN="false")
    else:
        full_env.pop("K6_WEB_DASHBOARD", None)
    argv = [a.k6, "run", "--quiet", "--no-color", "--out", f"csv={csv_path}", os.path.join(K6_DIR, script)]
    # Generous by default: the expected run, k6's graceful stops, and start-up; a stuck k6 is killed.
    timeout_s = timeout_s or expected_s * 1.5 + 300
    t0 = time.time()
    log_path = os.path.join(out_dir, f"{tag}.k6.log")
    with open(log_path, "w") as lf:
        p = subprocess.Popen(argv, env=full_env, stdout=lf, stderr=subprocess.STDOUT)
        if sampler:
            sampler.k6_pid = p.pid
        try:
            rc = p.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log(f"  k6 ran past {timeout_s:.0f} s; killed")
            p.kill()
            rc = p.wait()
    t1 = time.time()
    with open(summary) as f:
        s = json.load(f)
    out = {"rc": rc, "summary": s, "csv": csv_path, "t0": t0, "t1": t1, "html": None, "html_note": None,
           "period": period}
    if html:
        if os.path.exists(html_path):
            retitle(html_path, f"routeq {tag} · commit {a.commit}")
            out["html"] = html_path
        else:
            with open(log_path) as lf:
                short = "run was short" in lf.read()
            out["html_note"] = (f"k6 wrote no HTML report: the run was too short for a {period} period" if short
                                else f"k6 wrote no HTML report (see {os.path.basename(log_path)})")
            log("  " + out["html_note"])
    return out


def retitle(path, title):
    """Names the run and commit in the HTML report's title (k6 writes `k6 report`)."""
    with open(path, encoding="utf-8") as f:
        html = f.read()
    new = html.replace("<title>k6 report</title>", f"<title>{title}</title>", 1)
    if new != html:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)


def read_series(csv_path, t0):
    """Per-job timestamps from the k6 CSV: arrivals, ok completions (with e2e), failures."""
    arr, ok, fail = [], [], []
    with open(csv_path) as f:
        for row in csv.DictReader(f):
            name = row["metric_name"]
            if name not in ("jobs_arrived", "e2e_ms", "jobs_failed"):
                continue
            ts = float(row["timestamp"])
            ts = ts / 1000 if ts > 1e11 else ts
            x = ts - t0
            if name == "jobs_arrived":
                arr.append(x)
            elif name == "e2e_ms":
                ok.append((x, float(row["metric_value"])))
            else:
                fail.append(x)
    return arr, ok, fail


# ---------------------------------------------------------------- the summary export

def metric(s, name, stat):
    m = s["metrics"].get(name)
    return None if not m else m["values"].get(stat)


COUNT_UNITS = {"http_reqs": "requests", "iterations": "iterations", "dropped_iterations": "iterations",
               "data_received": "B", "data_sent": "B", "idempotency_mismatch": "jobs", "vus": "VUs", "vus_max": "VUs"}


def unit(name, m):
    """The unit a metric's values are in, as lib.js's summary prints it."""
    if m["type"] == "rate":
        return "%"
    if m.get("contains") == "time":
        return "ms"
    if m.get("contains") == "data":
        return "B"
    if name.startswith("jobs_"):
        return "jobs"
    return COUNT_UNITS.get(name, "")


def num(v, u=""):
    """A value with its unit; rates (fractions) as percent."""
    if v is None:
        return "–"
    if u == "%":
        return f"{v * 100:.2f} %"
    a = abs(v)
    s = f"{v:.0f}" if a >= 100 or float(v).is_integer() else f"{v:.1f}" if a >= 10 else f"{v:.2f}" if a >= 1 else f"{v:.3f}"
    return f"{s} {u}".rstrip()


THRESHOLD = re.compile(r"^\s*([a-z]+(?:\([0-9.]+\))?)\s*(<=|>=|===|==|!=|<|>)\s*(-?[0-9.]+(?:e-?[0-9]+)?)\s*$")


def thresholds(s):
    """Every threshold of a summary, sorted by metric then expression: the metric, the threshold in
    words with its unit, the value k6 compared, and k6's own pass/fail."""
    out = []
    for name in sorted(s["metrics"]):
        m = s["metrics"][name]
        for expr in sorted(m.get("thresholds") or {}):
            u = unit(name, m)
            hit = THRESHOLD.match(expr)
            if hit:
                stat, op, limit = hit.group(1), hit.group(2), float(hit.group(3))
                observed = m["values"].get(stat)
                human = f"{stat} {op} {num(limit, u)}"
            else:
                observed, human = None, expr
            out.append({"metric": name, "expr": expr, "threshold": human, "observed": observed,
                        "shown": num(observed, u) if hit else "–", "ok": bool(m["thresholds"][expr].get("ok"))})
    return out


def checks(s):
    """Every check of a summary, in the order the script made them: name, passes, fails."""
    out = []

    def walk(g):
        for c in g.get("checks") or []:
            out.append({"name": c["name"], "passes": c["passes"], "fails": c["fails"]})
        for sub in g.get("groups") or []:
            walk(sub)
    walk(s.get("root_group") or {})
    return out


def thresholds_ok(s):
    return all(t["ok"] for t in thresholds(s))
