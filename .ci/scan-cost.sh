#!/usr/bin/env bash
# CPU time and peak RSS of `farmwatch scan` of this machine, averaged over
# RUNS runs (default 5). Used by make bench; figures go in BENCHMARKS.md.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
make -s build
runs=${RUNS:-5}
# The shipped example configuration, except that the scan browses no mDNS on this machine's LAN
# unless SCAN_COST_LAN=1 (the beacon runs only in the service, not in a scan).
cfg=$(mktemp --suffix=.yaml)
trap 'rm -f "$cfg"' EXIT
if [ "${SCAN_COST_LAN:-}" = 1 ]; then
  cp packaging/config/farmwatch.yaml "$cfg"
else
  sed 's/^    mdns: true /    mdns: false/' packaging/config/farmwatch.yaml > "$cfg"
  grep -q '^    mdns: false' "$cfg" || { echo "scan-cost: could not turn mDNS off in the example configuration" >&2; exit 1; }
fi
command -v python3 >/dev/null || { echo "scan-cost: python3 is needed to read rusage" >&2; exit 1; }
python3 - "$runs" "$cfg" <<'PY'
import resource, subprocess, sys, time
runs = int(sys.argv[1])
rows = []
for _ in range(runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    p = subprocess.Popen(["bin/farmwatch", "scan", "--json", "--config", sys.argv[2]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = __import__("os").wait4(p.pid, 0)
    wall = time.monotonic() - t
    rows.append((ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, wall))
cpu = sorted(r[0] for r in rows); rss = sorted(r[1] for r in rows); wall = sorted(r[2] for r in rows)
mid = runs // 2
print(f"farmwatch scan (this host, {runs} runs): CPU time median {cpu[mid]*1000:.0f} ms (min {cpu[0]*1000:.0f}, max {cpu[-1]*1000:.0f}); "
      f"peak RSS median {rss[mid]:.1f} MiB (max {rss[-1]:.1f}); wall median {wall[mid]*1000:.0f} ms")
PY
