#!/usr/bin/env python3
"""What traces cost when they are off: CPU instructions per job, counted by callgrind, for two builds.

    scripts/bench_traces_off.py --before DIR --after DIR [--runs 3] [--jobs 300] [--out FILE]

DIR holds release binaries (`routeq-gateway`, `routeq-worker`; `routeq-sim` is taken from
--after). Instruction counts do not depend on how busy the machine is, unlike throughput, so
small differences show on a shared 2-core machine. Neither build gets --otlp-endpoint.

- gateway: the gateway runs under `valgrind --tool=callgrind --instr-atstart=no`; after start-up
  and a warm-up, counting is switched on (`callgrind_control -i on`), --jobs submissions are sent
  one after another over one keep-alive connection, and counting is switched off. Instructions
  per submission = counted instructions / --jobs.
- worker: the worker runs under callgrind with the simulator as its providers; once it serves
  /healthz counting is switched on, --jobs distinct coordinate trips are submitted through an
  --after gateway (neither counted), and counting is switched off once every job has been read
  and acknowledged. Instructions per job = counted / --jobs (idle polling while it waits is in
  it, the same for both builds).

Runs alternate before/after, --runs times each; the report gives each run, the medians and
after/before. Needs Debian's valgrind and a Redis (--redis-url); every key it makes is deleted.
"""

import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, within: float) -> None:
    until = time.time() + within
    while time.time() < until:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered 200 on :{port}{path} within {within} s")


def control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=120)


def totals(path: str) -> int:
    # `summary:` is written at the top when the file is opened (0 with instrumentation off at
    # start); `totals:` at the end is what was counted.
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def trip(i: int) -> dict:
    d = i * 0.0007
    return {"origin": {"lat": 37.4979 + d, "lon": 127.0276}, "destination": {"lat": 37.5547, "lon": 126.9707 + d}}


def submit_all(port: int, n: int, offset: int) -> None:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for i in range(n):
        body = json.dumps(trip(offset + i))
        c.request("POST", "/v1/routes", body=body, headers={"content-type": "application/json"})
        r = c.getresponse()
        text = r.read()
        if r.status != 202:
            raise RuntimeError(f"submission {i}: HTTP {r.status} {text[:300]!r}")


def redis_cli(url: str, *args: str) -> str:
    return subprocess.run(["redis-cli", "-u", url, *args], check=True, capture_output=True, text=True).stdout


def delete_keys(url: str, prefix: str) -> None:
    keys = redis_cli(url, "--scan", "--pattern", f"*{prefix.strip('{}')}*").split()
    for i in range(0, len(keys), 500):
        redis_cli(url, "DEL", *keys[i : i + 500])


def stop(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def callgrind(out: str) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]


def gateway_args(bin_dir: str, port: int, url: str, prefix: str) -> list[str]:
    return [
        os.path.join(bin_dir, "routeq-gateway"), "--listen", f"127.0.0.1:{port}", "--redis-url", url,
        "--key-prefix", prefix, "--records", "off", "--threads", "1", "--log-level", "warn",
        # Background work runs by the clock, and the clock runs slow under callgrind: keep it out.
        "--sample-interval-ms", "600000", "--subscription-heartbeat-ms", "600000",
        "--redis-connect-timeout-ms", "20000", "--redis-response-timeout-ms", "20000",
    ]


def measure_gateway(bin_dir: str, url: str, jobs: int, tmp: str) -> float:
    prefix = f"{{bench-traces-{uuid.uuid4().hex[:10]}}}"
    port = free_port()
    out = os.path.join(tmp, f"gw-{prefix}.out")
    p = subprocess.Popen(callgrind(out) + gateway_args(bin_dir, port, url, prefix),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
    try:
        wait_http(port, "/healthz", 180)
        submit_all(port, 50, 0)  # warm-up: connections, scripts loaded, first allocations
        control(p.pid, "-i", "on")
        submit_all(port, jobs, 50)
        control(p.pid, "-i", "off")
    finally:
        stop(p)
        delete_keys(url, prefix)
    return totals(out) / jobs


def measure_worker(bin_dir: str, after_dir: str, url: str, jobs: int, tmp: str) -> float:
    prefix = f"{{bench-traces-{uuid.uuid4().hex[:10]}}}"
    gw_port, sim_port, metrics_port = free_port(), free_port(), free_port()
    sim = subprocess.Popen([os.path.join(after_dir, "routeq-sim"), "--listen", f"127.0.0.1:{sim_port}",
                            "--latency-min-ms", "0", "--latency-max-ms", "0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gw = subprocess.Popen(gateway_args(after_dir, gw_port, url, prefix),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = os.path.join(tmp, f"wk-{prefix}.out")
    worker = None
    try:
        wait_http(gw_port, "/healthz", 30)
        sim_url = f"http://127.0.0.1:{sim_port}"
        worker = subprocess.Popen(callgrind(out) + [
            os.path.join(bin_dir, "routeq-worker"), "--redis-url", url, "--key-prefix", prefix,
            "--geocoder-url", sim_url, "--router-url", sim_url, "--records", "off",
            "--metrics-listen", f"127.0.0.1:{metrics_port}", "--log-level", "warn",
            # No job may expire or be reclaimed while callgrind slows the worker down.
            "--job-budget-ms", "60000", "--reclaim-idle-ms", "600000", "--reclaim-interval-ms", "300000",
            "--redis-connect-timeout-ms", "20000", "--redis-response-timeout-ms", "20000",
            "--call-timeout-ms", "20000",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
        # Counting on once the worker serves, then the jobs: every job is counted, start-up not.
        wait_http(metrics_port, "/healthz", 180)
        control(worker.pid, "-i", "on")
        submit_all(gw_port, jobs, 0)
        stream = redis_cli(url, "--scan", "--pattern", f"*{prefix.strip('{}')}*:jobs").split()
        until = time.time() + 1800
        while time.time() < until:
            lag = 0
            for s in stream:
                info = redis_cli(url, "XINFO", "GROUPS", s).split()
                # lag + pending: entries not yet read, and read but not acknowledged
                lag += int(info[info.index("lag") + 1]) + int(info[info.index("pending") + 1])
            if lag == 0:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("the worker did not drain the stream")
        control(worker.pid, "-i", "off")
    finally:
        if worker is not None:
            stop(worker)
        for p in (gw, sim):
            if p.poll() is None:
                stop(p)
        delete_keys(url, prefix)
    return totals(out) / jobs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=300)
    ap.add_argument("--parts", default="gateway,worker")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    ap.add_argument("--out")
    a = ap.parse_args()
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-traces-") as tmp:
        for part in a.parts.split(","):
            results[part] = {"before": [], "after": []}
            for run in range(1, a.runs + 1):
                for label, d in (("before", a.before), ("after", a.after)):
                    if part == "gateway":
                        v = measure_gateway(d, a.redis_url, a.jobs, tmp)
                    else:
                        v = measure_worker(d, a.after, a.redis_url, a.jobs, tmp)
                    results[part][label].append(v)
                    print(f"[bench-traces] {part} run {run} {label}: {v:,.0f} instructions per job", file=sys.stderr, flush=True)
    lines = [
        "# Traces off: instructions per job, before and after (callgrind)",
        "",
        f"`scripts/bench_traces_off.py --before {a.before} --after {a.after} --runs {a.runs} --jobs {a.jobs}`",
        "(release builds, no --otlp-endpoint; runs alternate before/after).",
        "",
        "| part | runs before | runs after | median before | median after | after / before |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for part, r in results.items():
        b, f = statistics.median(r["before"]), statistics.median(r["after"])
        fmt = lambda xs: ", ".join(f"{x:,.0f}" for x in xs)
        lines.append(f"| {part} | {fmt(r['before'])} | {fmt(r['after'])} | {b:,.0f} | {f:,.0f} | {f / b:.4f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
