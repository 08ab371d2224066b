"""What a run's numbers mean: the gateway's own latency histogram, per-second series for the
charts, CPU deltas, the drain rate while every worker slot is busy, one run's summary, and the
end-to-end bound a scenario's threshold asserts (provider latency plus an overhead budget; for a
spike, plus the queueing a fleet draining at DRAIN_SHARE of its capacity would add)."""

import k6
from fleet import http_get
from k6 import metric, read_series

# A spike's e2e threshold assumes the fleet drains its backlog at no less than this share of
# its capacity (measured: 98–99 %); below it, the queueing wait outgrows the bound and k6 fails.
DRAIN_SHARE = 0.9


def spike_wait_s(peak, ramp_s, capacity, q=0.95, dt=0.005):
    """Quantile q of the queueing wait (s) of a FIFO fluid queue served at `capacity` jobs/s and fed
    as spike.js feeds the fleet: arrivals ramping 0 → peak over ramp_s, then peak → 0 over 1 s."""
    end = ramp_s + 1
    arrivals, dep = [], []
    t = a_cum = d_cum = 0.0
    while t < end or d_cum < a_cum - 1e-9:
        lam = peak * t / ramp_s if t < ramp_s else peak * max(0.0, 1 - (t - ramp_s)) if t < end else 0.0
        a_cum += lam * dt
        arrivals.append((t, a_cum, lam * dt))
        d_cum = min(a_cum, d_cum + capacity * dt)
        dep.append((t, d_cum))
        t += dt
    waits, j = [], 0
    for ta, a, w in arrivals:
        while j < len(dep) - 1 and dep[j][1] < a - 1e-9:
            j += 1
        waits.append((max(0.0, dep[j][0] - ta), w))
    waits.sort()
    total, acc = sum(w for _, w in waits), 0.0
    for x, w in waits:
        acc += w
        if total and acc >= q * total:
            return x
    return waits[-1][0] if waits else 0.0


def e2e_p95_bound_ms(a, mode, spike_peak=None):
    """The e2e p95 a scenario must stay under, unless --e2e-p95-ms names one: the slowest provider
    call the simulator makes, the overhead budget, a poll interval when clients poll, and for a
    spike the p95 queueing wait at DRAIN_SHARE of capacity."""
    if a.e2e_p95_ms:
        return a.e2e_p95_ms
    bound = a.latency[1] + a.e2e_overhead_ms + (a.poll_ms if mode == "poll" else 0)
    if spike_peak:
        bound += spike_wait_s(spike_peak, a.ramp_s, a.capacity * DRAIN_SHARE) * 1000
    return int(round(bound))


def post_histogram(url):
    """Cumulative buckets {le: count} of the gateway's own POST /v1/routes latency histogram."""
    _, body = http_get(url + "/metrics", 2.0)
    out = {}
    for line in body.splitlines():
        if line.startswith("routeq_http_request_duration_seconds_bucket{") and 'route="/v1/routes"' in line and 'method="POST"' in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def hist_quantile(before, after, q):
    """Upper bound (bucket edge, ms) of quantile q of the requests counted between two scrapes."""
    diff = sorted((le, after[le] - before.get(le, 0)) for le in after)
    if not diff or diff[-1][1] <= 0:
        return None, 0
    total = diff[-1][1]
    for le, c in diff:
        if c >= q * total:
            return le * 1000, total
    return None, total


def hist_share_le(before, after, le_s):
    diff = {le: after[le] - before.get(le, 0) for le in after}
    total = max(diff.values()) if diff else 0
    return (diff.get(le_s, 0) / total * 100) if total else None


def pct(vals, p):
    if not vals:
        return None
    v = sorted(vals)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def per_second(times, horizon):
    n = int(horizon) + 1
    b = [0] * n
    for t in times:
        if 0 <= t < n:
            b[int(t)] += 1
    return [(i + 0.5, c) for i, c in enumerate(b)]


def e2e_over_time(ok, horizon, p):
    bins = {}
    for t, v in ok:
        bins.setdefault(int(t), []).append(v)
    return [(i + 0.5, pct(bins[i], p)) for i in sorted(bins) if i <= horizon]


def cpu_delta(rows, role):
    k = f"cpu_{role}"
    vals = [r[k] for r in rows if k in r]
    return (vals[-1] - vals[0]) if len(vals) >= 2 else 0.0


def drain_rate(rows, budget):
    """Completions/s while every worker slot is busy and jobs wait (lag > 0), from the stream's
    entries-added − length; the first and last second of that window are left out."""
    sat = [r for r in rows if r.get("lag", 0) > budget // 4 and r.get("pending", 0) >= budget * 0.9]
    if len(sat) < 3:
        return None, 0.0
    t_first, t_last = sat[0]["t"] + 1.0, sat[-1]["t"] - 1.0
    win = [r for r in rows if t_first <= r["t"] <= t_last]
    if len(win) < 2:
        return None, 0.0
    done0 = win[0]["added"] - win[0]["length"]
    done1 = win[-1]["added"] - win[-1]["length"]
    return (done1 - done0) / (win[-1]["t"] - win[0]["t"]), win[-1]["t"] - win[0]["t"]


def summarize(res, rows, budget, target):
    s = res["summary"]
    arrived = metric(s, "jobs_arrived", "count") or 0
    ok = metric(s, "jobs_ok", "count") or 0
    failed = metric(s, "jobs_failed", "count") or 0
    t0 = res["t0"]
    wall = res["t1"] - t0
    cpu = {role: cpu_delta(rows, role) for role in ("gateway", "workers", "simulator", "direct", "k6")}
    rc = (rows[-1]["redis_cpu"] - rows[0]["redis_cpu"]) if len(rows) >= 2 else 0
    cpu["redis"] = rc
    routeq_cpu = cpu["gateway"] + cpu["workers"] + rc
    out = {
        "target": target, "rc": res["rc"], "arrived": arrived, "ok": ok, "failed": failed,
        "fail_rate": (failed / arrived * 100) if arrived else None, "wall_s": wall,
        "dropped": metric(s, "dropped_iterations", "count") or 0,
        "e2e": {p: metric(s, "e2e_ms", p) for p in ("med", "p(95)", "p(99)", "max")},
        "overhead": {p: metric(s, "overhead_ms", p) for p in ("med", "p(95)", "p(99)", "max")},
        "submit": {p: metric(s, "submit_ms", p) for p in ("med", "p(99)", "p(99.9)", "max")},
        "provider_mean_ms": metric(s, "provider_ms", "avg"),
        "cpu": cpu,
        "cpu_per_job_ms": (routeq_cpu / ok * 1000) if (ok and target == "routeq") else None,
        "cpu_per_job_direct_ms": ((cpu["direct"]) / ok * 1000) if (ok and target == "direct") else None,
        "rss_gateway": [r.get("rss_gateway") for r in rows], "rss_workers": [r.get("rss_workers") for r in rows],
        "throughput": (ok / wall) if wall > 0 else None,
        "thresholds_ok": k6.thresholds_ok(s), "thresholds": k6.thresholds(s), "checks": k6.checks(s),
        "html": res["html"], "html_note": res["html_note"], "period": res["period"], "summary": s,
    }
    if target == "routeq":
        out["drain_rate"], out["drain_window_s"] = drain_rate(rows, budget)
        out["peak_backlog"] = max((r.get("length", 0) for r in rows), default=0)
    return out


def series(res, rows, target):
    arr, ok, fail = read_series(res["csv"], res["t0"])
    horizon = max([x for x in arr] + [x for x, _ in ok] + fail + [1])
    sr = {
        "arrivals": per_second(arr, horizon), "ok": per_second([x for x, _ in ok], horizon),
        "fail": per_second(fail, horizon), "p50": e2e_over_time(ok, horizon, 50), "p99": e2e_over_time(ok, horizon, 99),
    }
    if target == "routeq":
        sr["backlog"] = [(r["t"] - res["t0"], r.get("length", 0)) for r in rows]
    else:
        sr["backlog"] = [(r["t"] - res["t0"], r.get("in_flight", 0)) for r in rows]
    sr["rss_gateway"] = [(r["t"] - res["t0"], r.get("rss_gateway")) for r in rows]
    sr["rss_workers"] = [(r["t"] - res["t0"], r.get("rss_workers")) for r in rows]
    return sr


