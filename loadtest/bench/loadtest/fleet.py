"""The fleet a load test runs against, and what the runner samples while it runs: a minimal Redis
client (RESP), /proc CPU and RSS, the child processes (simulator, gateway, workers, the direct
baseline) on free loopback ports, the gateway's API key, and the sampler thread."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

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

    def pipeline(self, cmds):
        """Sends every command, then reads every reply (one write, replies in order)."""
        out = []
        for args in cmds:
            out.append(f"*{len(args)}\r\n".encode())
            for a in args:
                b = a if isinstance(a, bytes) else str(a).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return [self._read() for _ in cmds]

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


def prefix_memory(r, prefix):
    """Bytes Redis holds for the keys under `prefix` (`MEMORY USAGE key SAMPLES 0`, exact, summed),
    by kind of key (the first segment after the prefix's braces: job, jobs, idem, open, …), and the
    number of keys of each kind."""
    pat = prefix.replace("{", "\\{").replace("}", "\\}") + "*"
    cursor, kinds = "0", {}
    while True:
        cursor, keys = r.cmd("SCAN", cursor, "MATCH", pat, "COUNT", 2000)
        if keys:
            sizes = r.pipeline([("MEMORY", "USAGE", k, "SAMPLES", "0") for k in keys])
            for k, n in zip(keys, sizes):
                kind = k[len(prefix):].lstrip(":").split(":", 1)[0] or "?"
                b, c = kinds.get(kind, (0, 0))
                kinds[kind] = (b + (n or 0), c + 1)
        if cursor == "0":
            return kinds


def used_memory(r):
    for line in r.cmd("INFO", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    return None


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
        env["ROUTEQ_LOG"] = "warn"
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


def create_api_key(gateway_bin, redis_url, prefix, tenant="loadtest"):
    """A new API key for `tenant` under the fleet's key prefix (`routeq-gateway keys create`; the
    Redis settings go by environment, which every position of the subcommand honours). The key is
    a throwaway: it lives under the run's prefix, which is deleted afterwards, and is never logged."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEQ_")}
    env.update(ROUTEQ_REDIS_URL=redis_url, ROUTEQ_KEY_PREFIX=prefix, ROUTEQ_LOG="warn")
    p = subprocess.run([gateway_bin, "keys", "create", "--tenant", tenant], env=env, capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    lines = [x.strip() for x in p.stdout.splitlines() if x.strip()]
    if p.returncode != 0 or len(lines) < 2:
        raise RuntimeError(f"routeq-gateway keys create failed (exit {p.returncode}): {p.stderr.strip()[-500:]}")
    return lines[-1]


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
        # With `--auth keys` (the default, as in production) every API request is checked against
        # a key; the runner makes one for this fleet's key prefix, and k6 sends it (API_KEY).
        self.api_key = create_api_key(b("routeq-gateway"), a.redis_url, prefix) if a.auth == "keys" else ""
        procs.start("gateway", [b("routeq-gateway"), "--listen", gw, "--redis-url", a.redis_url, "--key-prefix", prefix,
                                "--log-level", "warn", "--admission", adm, "--sample-interval-ms", "250",
                                "--max-wait-s", "60", "--auth", a.auth])
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

