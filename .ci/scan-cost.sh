#!/usr/bin/env bash
# CPU time and peak RSS of `farmwatch scan` of this machine, averaged over
# RUNS runs (default 5). Used by make bench; figures go in BENCHMARKS.md.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
make -s build
runs=${RUNS:-5}
command -v python3 >/dev/null || { echo "scan-cost: python3 is needed to read rusage" >&2; exit 1; }
python3 - "$runs" <<'PY'
import resource, subprocess, sys, time
runs = int(sys.argv[1])
rows = []
for _ in range(runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    p = subprocess.Popen(["bin/farmwatch", "scan", "--json", "--config", "packaging/config/farmwatch.yaml"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = __import__("os").wait4(p.pid, 0)
    wall = time.monotonic() - t
    rows.append((ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, wall))
cpu = sorted(r[0] for r in rows); rss = sorted(r[1] for r in rows); wall = sorted(r[2] for r in rows)
mid = runs // 2
print(f"farmwatch scan (this host, {runs} runs): CPU time median {cpu[mid]*1000:.0f} ms (min {cpu[0]*1000:.0f}, max {cpu[-1]*1000:.0f}); "
      f"peak RSS median {rss[mid]:.1f} MiB (max {rss[-1]:.1f}); wall median {wall[mid]*1000:.0f} ms")
PY
