#!/usr/bin/env python3
"""Two builds of routeq side by side (scripts/compare.sh): runs the same short scenarios against
each, alternating A B, B A, A B … so that a change in the machine's load hits both alike, and
prints every figure for both (median over rounds, with each round's value) and the ratio B ÷ A.

Scenarios (each parameterised; all on one fleet per run, fresh key prefix, keys deleted after):
  ingest   routeq-bench --scenario throughput (the Rust client, keep-alive HTTP/1.1): submissions/s
           and gateway CPU µs per submission
  steady   run.py steady, `Prefer: wait`, --rate jobs/s, 150–250 ms provider, every job distinct:
           fleet CPU per job (gateway + worker + Redis) and routeq's overhead p50/p99
  spike    run.py spike at --spike-mult × capacity: completions while draining, % of capacity
  backlog  run.py backlog, `--provider estimate`: drain jobs/s, CPU per job, gateway CPU per
           submission, Redis bytes per queued job

The measuring tools (routeq-bench, run.py, the k6 scripts) are this checkout's for both builds;
only the fleet's binaries (gateway, worker, simulator) come from each side's --bin-dir."""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def log(*a):
    print("[compare]", *a, file=sys.stderr, flush=True)


def run(cmd, logfile):
    log(" ".join(cmd))
    with open(logfile, "a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        rc = subprocess.run(cmd, stdout=fh, stderr=fh, stdin=subprocess.DEVNULL).returncode
    if rc != 0:
        log(f"  exit {rc} (see {logfile}); its figures are read all the same where they were written")
    return rc


def md_value(text, title):
    """The first number in the row of a routeq-bench Markdown table whose title starts with `title`."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].replace("**", "").startswith(title):
            m = re.search(r"-?[0-9.]+", cells[1])
            return float(m.group()) if m else None
    return None


def ingest(a, side, bin_dir, d):
    out = os.path.join(d, "ingest.md")
    run([a.bench, "--scenario", "throughput", "--runs", "1", "--jobs", str(a.ingest_jobs), "--clients", str(a.ingest_clients),
         "--workers", "1", "--concurrency", "64", "--warmup-jobs", "500", "--bin-dir", bin_dir, "--redis-url", a.redis_url,
         "--out", out], os.path.join(d, "ingest.log"))
    if not os.path.exists(out):
        return {}
    t = open(out).read()
    return {"ingest: submissions/s (routeq-bench)": md_value(t, "submissions/s"),
            "ingest: gateway CPU per submission, µs": md_value(t, "↳ gateway, µs"),
            "ingest: fleet CPU per job (gateway+worker+Redis), µs": md_value(t, "CPU per job, routeq")}


def loadtest(a, bin_dir, d, name, args):
    run([sys.executable, os.path.join(HERE, "run.py"), "--bin-dir", bin_dir, "--redis-url", a.redis_url, "--runs", "1",
         "--targets", "routeq", "--out-dir", d, "--name", name, "--k6", a.k6] + args, os.path.join(d, f"{name}.log"))
    p = os.path.join(d, f"{name}.json")
    return json.load(open(p)) if os.path.exists(p) else None


def steady(a, side, bin_dir, d):
    j = loadtest(a, bin_dir, d, "steady", ["--scenario", "steady", "--workers", "1", "--concurrency", str(a.concurrency),
                                           "--latency", "150-250", "--rate", str(a.rate), "--duration", a.duration,
                                           "--mode", "wait"])
    if not j:
        return {}
    r = j["steady"][0]["routeq"]
    ok = r["ok"] or 1
    c = r["cpu"]
    return {f"steady {a.rate:g}/s: fleet CPU per job, ms": r["cpu_per_job_ms"],
            f"steady {a.rate:g}/s: ↳ gateway, ms": c["gateway"] / ok * 1000,
            f"steady {a.rate:g}/s: ↳ worker, ms": c["workers"] / ok * 1000,
            f"steady {a.rate:g}/s: ↳ Redis, ms": c["redis"] / ok * 1000,
            f"steady {a.rate:g}/s: overhead p50, ms": r["overhead"]["med"],
            f"steady {a.rate:g}/s: overhead p99, ms": r["overhead"]["p(99)"],
            f"steady {a.rate:g}/s: failed": r["failed"]}


def spike(a, side, bin_dir, d):
    j = loadtest(a, bin_dir, d, "spike", ["--scenario", "spike", "--workers", "1", "--concurrency", str(a.concurrency),
                                          "--latency", "150-250", "--multipliers", f"{a.spike_mult:g}",
                                          "--ramp-s", str(a.spike_ramp_s)])
    if not j:
        return {}
    r = j[f"spike-x{a.spike_mult:g}"][0]["routeq"]
    cap = a.concurrency / 0.2
    return {"spike: completions while draining, % of capacity": (r["drain_rate"] / cap * 100) if r.get("drain_rate") else None,
            "spike: failed": r["failed"]}


def backlog(a, side, bin_dir, d):
    j = loadtest(a, bin_dir, d, "backlog", ["--scenario", "backlog", "--workers", "1", "--concurrency", "50",
                                            "--latency", "0", "--provider", "estimate", "--jobs", str(a.backlog_jobs),
                                            "--clients", "50"])
    if not j:
        return {}
    o = j[0]
    n = max(1, o["drained"])
    out = {"backlog: drain, jobs/s (one worker)": o["drain_rate"],
           "backlog: drain CPU per job, worker + Redis, µs": (o["cpu_workers_drain"] + o["cpu_redis_drain"]) / n * 1e6,
           "backlog: ↳ worker, µs": o["cpu_workers_drain"] / n * 1e6,
           "backlog: ↳ Redis, µs": o["cpu_redis_drain"] / n * 1e6,
           "backlog: gateway CPU per submission (k6 client), µs": o["cpu_gateway_submit"] / max(1, o["submitted"]) * 1e6,
           "backlog: Redis bytes per queued job": o.get("mem_per_job")}
    for k, v in sorted((o.get("mem_by_kind") or {}).items()):
        out[f"backlog: ↳ bytes per job in `{k}` keys"] = v
    return out


SCENARIOS = {"ingest": ingest, "steady": steady, "spike": spike, "backlog": backlog}


def fmt(v):
    if v is None:
        return "–"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a-bin", required=True, help="bin dir of build A (the revision compared against)")
    ap.add_argument("--b-bin", required=True, help="bin dir of build B (this working tree)")
    ap.add_argument("--a-name", default="A")
    ap.add_argument("--b-name", default="B")
    ap.add_argument("--bench", required=True, help="the routeq-bench binary (this checkout's)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scenarios", default="ingest,steady,spike,backlog")
    ap.add_argument("--ingest-jobs", type=int, default=20000)
    ap.add_argument("--ingest-clients", type=int, default=50)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--duration", default="20s")
    ap.add_argument("--concurrency", type=int, default=200, help="the worker's --concurrency in steady and spike")
    ap.add_argument("--spike-mult", type=float, default=1.5)
    ap.add_argument("--spike-ramp-s", type=int, default=10)
    ap.add_argument("--backlog-jobs", type=int, default=50000)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    ap.add_argument("--k6", default="k6")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--out", default=None, help="also write the Markdown table here")
    a = ap.parse_args()
    scen = [s for s in a.scenarios.split(",") if s]
    for s in scen:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s}; choose from {','.join(SCENARIOS)}")
    sides = {"A": a.a_bin, "B": a.b_bin}
    vals = {"A": {}, "B": {}}
    order_seen = []
    started = time.time()
    for rnd in range(1, a.rounds + 1):
        order = ["A", "B"] if rnd % 2 else ["B", "A"]
        for s in scen:
            for side in order:
                d = os.path.join(a.out_dir, f"round{rnd}", side, s)
                os.makedirs(d, exist_ok=True)
                log(f"round {rnd}/{a.rounds}, {s}, {side} ({a.a_name if side == 'A' else a.b_name})")
                figs = SCENARIOS[s](a, side, sides[side], d)
                for k, v in figs.items():
                    if k not in order_seen:
                        order_seen.append(k)
                    vals[side].setdefault(k, []).append(v)
                log("  " + "; ".join(f"{k.split(': ', 1)[-1]} {fmt(v)}" for k, v in figs.items()))
    md = [f"| figure | {a.a_name} median | {a.b_name} median | {a.b_name} ÷ {a.a_name} | {a.a_name} rounds | {a.b_name} rounds |",
          "| --- | ---: | ---: | ---: | --- | --- |"]
    for k in order_seen:
        va = [x for x in vals["A"].get(k, []) if x is not None]
        vb = [x for x in vals["B"].get(k, []) if x is not None]
        ma = statistics.median(va) if va else None
        mb = statistics.median(vb) if vb else None
        ratio = f"{mb / ma:.2f}" if (ma and mb is not None) else "–"
        md.append(f"| {k} | {fmt(ma)} | {fmt(mb)} | {ratio} | {', '.join(fmt(x) for x in va)} | {', '.join(fmt(x) for x in vb)} |")
    md += ["", f"{a.rounds} rounds, alternating ({a.a_name} first in odd rounds); wall time {time.time() - started:.0f} s. "
           f"Logs and each run's own report under `{a.out_dir}`."]
    text = "\n".join(md)
    print(text)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text + "\n")
    with open(os.path.join(a.out_dir, "compare.json"), "w") as fh:
        json.dump({"a": a.a_name, "b": a.b_name, "values": vals}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
