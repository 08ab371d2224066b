#!/usr/bin/env python3
"""Instructions per submission of one gateway, under callgrind: start it (auth open, own prefix),
warm up, zero the counters, send N submissions over keep-alive HTTP/1.1 from C client threads,
dump, and print Ir / N plus the top inclusive functions."""
import http.client, json, os, subprocess, sys, threading, time, uuid, socket, glob
bin_dir, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
prefix = "{cg-%s}" % uuid.uuid4().hex[:8]
env = dict(os.environ, RUST_LOG="warn")
p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out.%p",
                      os.path.join(bin_dir, "routeq-gateway"), "--listen", f"127.0.0.1:{port}", "--redis-url",
                      "redis://127.0.0.1:6379", "--key-prefix", prefix, "--log-level", "warn", "--admission", "false"],
                     env=env, stdout=open(f"{out}/gw.log", "w"), stderr=subprocess.STDOUT)
def ready():
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2); c.request("GET", "/readyz"); return c.getresponse().status == 200
    except Exception:
        return False
for _ in range(600):
    if ready(): break
    time.sleep(0.2)
def body(i):
    a = (i % 1000) * 1e-4; b = ((i // 1000) % 1000) * 1e-4
    return json.dumps({"origin": {"lat": round(37.5 + a, 5), "lon": round(127.0 + b, 5)},
                       "destination": {"lat": round(37.55 - b, 5), "lon": round(127.05 - a, 5)}})
def client(lo, hi):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for i in range(lo, hi):
        c.request("POST", "/v1/routes", body=body(i), headers={"content-type": "application/json"})
        r = c.getresponse(); r.read()
        assert r.status == 202, r.status
def run(first, count, threads=8):
    ts = [threading.Thread(target=client, args=(first + k * count // threads, first + (k + 1) * count // threads)) for k in range(threads)]
    [t.start() for t in ts]; [t.join() for t in ts]
run(0, 200)
subprocess.run(["callgrind_control", "-z", str(p.pid)], capture_output=True)
t0 = time.time(); run(1000, n); t1 = time.time()
subprocess.run(["callgrind_control", "-d", "measured", str(p.pid)], capture_output=True)
idle_s = 20
time.sleep(idle_s)
subprocess.run(["callgrind_control", "-d", "idle", str(p.pid)], capture_output=True)
time.sleep(1)
p.terminate(); p.wait()
def ir(f):
    for line in open(f):
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
f = f"{out}/callgrind.out.{p.pid}.1"
total, idle = ir(f), ir(f"{out}/callgrind.out.{p.pid}.2")
busy = t1 - t0
net = total - idle * busy / idle_s
print(f"file {f}\nsubmissions {n} in {busy:.1f}s under callgrind\nIr total {total}\nIr idle {idle} in {idle_s}s\n"
      f"Ir per submission {total / n:.0f} (raw), {net / n:.0f} (less the idle rate x busy time)")
subprocess.run(f"callgrind_annotate --inclusive=yes {f} 2>/dev/null | head -60 > {out}/inclusive.txt; callgrind_annotate {f} 2>/dev/null | head -60 > {out}/self.txt", shell=True)
# cleanup keys
r = subprocess.run(["redis-cli", "--scan", "--pattern", prefix.replace("{", "\\{").replace("}", "\\}") + "*"], capture_output=True, text=True)
keys = r.stdout.split()
for i in range(0, len(keys), 500):
    subprocess.run(["redis-cli", "UNLINK", *keys[i:i + 500]], capture_output=True)
