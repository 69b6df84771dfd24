#!/usr/bin/env bash
# Idle cost of the agent service: builds both binaries, starts a real
# collector on loopback, enrolls, and runs `farmwatch run` at the default
# schedule for MINUTES minutes (default 10), sampling its resident memory
# and CPU time from /proc every SAMPLE seconds (default 2). Then measures
# one full check cycle's CPU time (`farmwatch run --once`, user+sys from
# rusage, median of RUNS runs, default 3). Linux only (reads /proc).
#
#   bash .ci/idle-bench.sh            MINUTES=1 bash .ci/idle-bench.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
minutes=${MINUTES:-10}
sample=${SAMPLE:-2}
runs=${RUNS:-3}
addr=${IDLE_BENCH_ADDR:-127.0.0.1:18643}
command -v python3 >/dev/null || { echo "idle-bench: python3 is needed" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/idle-bench.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

CGO_ENABLED=0 go build -trimpath -o "$work/farmwatch" ./agent/cmd/farmwatch
CGO_ENABLED=0 go build -trimpath -o "$work/farmwatch-collector" ./collector/cmd/farmwatch-collector
FW=$work/farmwatch FC=$work/farmwatch-collector

"$FC" init --dir "$work/collector" --agent-listen "$addr" --api-listen 127.0.0.1:0 >/dev/null
cfg=$work/collector/collector.yaml
sed -i -e 's/^  level: info/  level: warn/' "$cfg"
"$FC" serve --config "$cfg" >"$work/collector.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null; then break; fi
	sleep 0.1
done
# Built-in defaults (the default schedule and watchdog); the local API on
# a socket of its own, not the machine's /run/farmwatch.
printf 'local_api:\n  endpoint: %s\n' "$work/farmwatch.sock" >"$work/agent.yaml"
# Traffic stays on this machine unless IDLE_BENCH_LAN=1: no mDNS browse, no peer beacon on the LAN
# (the beacon's own cost is BenchmarkBeaconVerify's).
if [ "${IDLE_BENCH_LAN:-}" != 1 ]; then
	printf 'policy:\n  colocation:\n    mdns: false\n    beacon: false\n' >>"$work/agent.yaml"
fi
export FARMWATCH_CONFIG=$work/agent.yaml FARMWATCH_LOG_LEVEL=warn
"$FW" --state-dir "$work/state" enroll --server "https://$addr" --ca "$work/collector/ca.pem" \
	--token "$("$FC" token create --config "$cfg" | head -n 1)" >/dev/null

FARMWATCH_LOG_LEVEL=info FARMWATCH_LOG_FORMAT=json "$FW" --state-dir "$work/state" run 2>"$work/agent.log" &
agent=$!
pids+=("$agent")
echo "idle-bench: farmwatch run (pid $agent) for $minutes min, sampling every ${sample}s"

python3 - "$agent" "$minutes" "$sample" "$runs" "$FW" "$work/state" <<'PY'
import os, signal, statistics, subprocess, sys, time
pid, minutes, step, runs, fw, state = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
tick = os.sysconf("SC_CLK_TCK")
page = os.sysconf("SC_PAGE_SIZE")
def sample():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    with open(f"/proc/{pid}/statm") as f:
        rss = int(f.read().split()[1]) * page
    return time.monotonic(), cpu, rss
# CPU time counts from the process start (the first check cycle runs at
# once, before the first sample).
with open(f"/proc/{pid}/stat") as f:
    started = int(f.read().rsplit(")", 1)[1].split()[19]) / tick
with open("/proc/uptime") as f:
    t0 = time.monotonic() - (float(f.read().split()[0]) - started)
c0 = 0.0
rows = []
end = time.monotonic() + minutes * 60
while time.monotonic() < end:
    time.sleep(step)
    rows.append(sample())
t1, c1, _ = rows[-1]
rss = [r[2] / 2**20 for r in rows]
# CPU after the first check cycle is over (the idle part): from the first
# sample 60 s in to the end.
idle = [r for r in rows if r[0] - t0 >= 60]
idle_pct = (idle[-1][1] - idle[0][1]) / (idle[-1][0] - idle[0][0]) * 100 if len(idle) > 1 else float("nan")
print(f"idle-bench: {minutes:g} min of farmwatch run at the default schedule ({len(rows)} samples every {step:g}s)")
print(f"  RSS: peak {max(rss):.1f} MiB, mean {statistics.mean(rss):.1f} MiB, last {rss[-1]:.1f} MiB")
print(f"  CPU: {c1 - c0:.2f} s in {t1 - t0:.0f} s = {(c1 - c0) / (t1 - t0) * 100:.3f} % of one core overall; "
      f"{idle_pct:.3f} % after the first minute (first check cycle included before)")
# The service holds the state directory's queue: stop it (SIGTERM, as a
# service manager does) before the one-cycle runs.
os.kill(pid, signal.SIGTERM)
while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
    time.sleep(0.1)
cpu = []
for _ in range(runs):
    p = subprocess.Popen([fw, "--state-dir", state, "run", "--once"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        print(f"  run --once failed with status {status}", file=sys.stderr)
        sys.exit(1)
    cpu.append(ru.ru_utime + ru.ru_stime)
print(f"  one full check cycle (farmwatch run --once, {runs} runs): CPU time median {statistics.median(cpu) * 1000:.0f} ms "
      f"(min {min(cpu) * 1000:.0f}, max {max(cpu) * 1000:.0f})")
PY
echo "  agent log: $(grep -c '"level":"info"' "$work/agent.log") info, $(grep -c '"level":"warn"' "$work/agent.log") warn, $(grep -c '"level":"error"' "$work/agent.log") error lines; last:"
tail -n 3 "$work/agent.log" | cut -c1-200 | sed 's/^/    /'
