import re, subprocess, sys
f, n = sys.argv[1], int(sys.argv[2])
def rows(incl):
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if incl else 'no'}", "--threshold=100", f], capture_output=True, text=True).stdout
    res = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?):(.*) \[(.*)\]$", line)
        if m:
            res.append((int(m.group(1).replace(",", "")), m.group(3)))
    return res
skip = ("std::sys::backtrace", "tokio::runtime::", "clone", "start_thread", "thread_start", "call_once{{vtable")
self_rows = [(c, fn) for c, fn in rows(False) if not any(fn.startswith(s) or s in fn for s in skip)]
print("self, instructions per submission:")
for c, fn in self_rows[:int(sys.argv[3]) if len(sys.argv) > 3 else 25]:
    print(f"  {c / n:8.0f}  {fn[:150]}")
pats = sys.argv[4].split("|") if len(sys.argv) > 4 else []
if pats:
    print("inclusive, instructions per submission:")
    seen = set()
    for c, fn in rows(True):
        for p in pats:
            if p in fn and p not in seen:
                seen.add(p); print(f"  {c / n:8.0f}  {fn[:150]}")
