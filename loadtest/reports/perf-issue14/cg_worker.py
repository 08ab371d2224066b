#!/usr/bin/env python3
"""Instructions per job of one worker under callgrind (--provider estimate, no HTTP): a normal
gateway and simulator, the worker under callgrind; zero once it is up, submit N jobs, wait until
the stream is empty, dump, and print Ir / N."""
import http.client, json, os, subprocess, sys, threading, time, uuid, socket
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "loadtest"))
from fleet import Redis, queue_sample
bin_dir, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
port, sport = free(), free()
prefix = "{cgw-%s}" % uuid.uuid4().hex[:8]
env = dict(os.environ, RUST_LOG="warn")
url = "redis://127.0.0.1:6379"
sim = subprocess.Popen([os.path.join(bin_dir, "routeq-sim"), "--listen", f"127.0.0.1:{sport}", "--latency-min-ms", "0", "--latency-max-ms", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
gw = subprocess.Popen([os.path.join(bin_dir, "routeq-gateway"), "--listen", f"127.0.0.1:{port}", "--redis-url", url, "--key-prefix", prefix, "--log-level", "warn", "--admission", "false"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def ready():
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2); c.request("GET", "/readyz"); return c.getresponse().status == 200
    except Exception:
        return False
while not ready(): time.sleep(0.2)
wk = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out.%p", os.path.join(bin_dir, "routeq-worker"),
                       "--redis-url", url, "--key-prefix", prefix, "--geocoder-url", f"http://127.0.0.1:{sport}", "--router-url", f"http://127.0.0.1:{sport}",
                       "--concurrency", "50", "--metrics-listen", "127.0.0.1:0", "--log-level", "warn", "--consumer", "cg-w1", "--provider", "estimate"],
                      env=env, stdout=open(f"{out}/worker.log", "w"), stderr=subprocess.STDOUT)
time.sleep(15)
def body(i):
    a = (i % 1000) * 1e-4; b = ((i // 1000) % 1000) * 1e-4
    return json.dumps({"origin": {"lat": round(37.5 + a, 5), "lon": round(127.0 + b, 5)}, "destination": {"lat": round(37.55 - b, 5), "lon": round(127.05 - a, 5)}})
def client(lo, hi):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for i in range(lo, hi):
        c.request("POST", "/v1/routes", body=body(i), headers={"content-type": "application/json"}); r = c.getresponse(); r.read(); assert r.status == 202
def submit(first, count, threads=8):
    ts = [threading.Thread(target=client, args=(first + k * count // threads, first + (k + 1) * count // threads)) for k in range(threads)]
    [t.start() for t in ts]; [t.join() for t in ts]
r = Redis(url)
submit(0, 200)
while queue_sample(r, prefix)[0] > 0: time.sleep(0.2)
subprocess.run(["callgrind_control", "-z", str(wk.pid)], capture_output=True)
t0 = time.time()
submit(1000, n)
while queue_sample(r, prefix)[0] > 0: time.sleep(0.2)
t1 = time.time()
subprocess.run(["callgrind_control", "-d", "measured", str(wk.pid)], capture_output=True)
idle_s = 15; time.sleep(idle_s)
subprocess.run(["callgrind_control", "-d", "idle", str(wk.pid)], capture_output=True)
time.sleep(1)
for p in (wk, gw, sim): p.terminate()
for p in (wk, gw, sim): p.wait()
def ir(f):
    for line in open(f):
        if line.startswith("summary:") or line.startswith("totals:"): return int(line.split()[1])
total, idle = ir(f"{out}/callgrind.out.{wk.pid}.1"), ir(f"{out}/callgrind.out.{wk.pid}.2")
net = total - idle * (t1 - t0) / idle_s
print(f"file {out}/callgrind.out.{wk.pid}.1\njobs {n} in {t1 - t0:.1f}s\nIr total {total}, idle {idle} in {idle_s}s\nIr per job {total / n:.0f} (raw), {net / n:.0f} (less idle)")
cur = "0"
pat = prefix.replace("{", "\\{").replace("}", "\\}") + "*"
while True:
    cur, keys = r.cmd("SCAN", cur, "MATCH", pat, "COUNT", 1000)
    if keys: r.cmd("UNLINK", *keys)
    if cur == "0": break
