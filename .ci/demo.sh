#!/usr/bin/env bash
# make demo: a local collector, an enrolled agent running a real check of
# this machine, and four simulated laptops of other owners on the same
# network (two with a PiKVM attached) that the collector reports as a farm.
# Needs only the two binaries in bin/. Leaves the collector running for the
# API unless CI=true (stop it with `make demo-stop`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

D=.demo
AGENT_ADDR=${DEMO_AGENT_ADDR:-127.0.0.1:18443}
API_ADDR=${DEMO_API_ADDR:-127.0.0.1:18444}
FC=bin/farmwatch-collector
FW=bin/farmwatch

if [ -f "$D/collector.pid" ] && kill -0 "$(cat "$D/collector.pid")" 2>/dev/null; then
  kill "$(cat "$D/collector.pid")"; sleep 1
fi
rm -rf "$D"; mkdir -p "$D"
# The agent runs on built-in defaults, except that what the demo sends stays on this machine: the
# colocation detector still reads the gateway, neighbours and Wi-Fi, but neither browses mDNS nor
# beacons on the LAN. FARMWATCH_DEMO_LAN=1 lets it (do that only on a network you may probe).
if [ "${FARMWATCH_DEMO_LAN:-}" = 1 ]; then
  : > "$D/agent.yaml"
else
  printf 'policy:\n  colocation:\n    mdns: false\n    beacon: false\n' > "$D/agent.yaml"
fi
export FARMWATCH_CONFIG="$D/agent.yaml" FARMWATCH_LOG_LEVEL=warn

say() { printf '\n== %s\n' "$*"; }

say "farmwatch-collector init --dir $D/collector"
$FC init --dir "$D/collector" --agent-listen "$AGENT_ADDR" --api-listen "$API_ADDR" | tee "$D/init.txt"
CFG="$D/collector/collector.yaml"
# Every simulated laptop reaches the collector from 127.0.0.1, which stands for the farm's shared
# public address here: let loopback join devices (never do this in production).
sed -i.bak -e 's/^  level: info/  level: warn/' -e 's/include_private_ips: false/include_private_ips: true/' "$CFG" && rm -f "$CFG.bak"

say "farmwatch-collector serve (background, log in $D/collector.log)"
$FC serve --config "$CFG" > "$D/collector.log" 2>&1 &
echo $! > "$D/collector.pid"
stop() { kill "$(cat "$D/collector.pid")" 2>/dev/null || true; }
if [ "${CI:-}" = true ]; then trap stop EXIT; fi
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/${AGENT_ADDR%:*}/${AGENT_ADDR#*:}") 2>/dev/null; then break; fi
  sleep 0.1
done

token() { $FC token create --config "$CFG" "$@" | head -n 1; }

say "this machine: farmwatch enroll, then farmwatch run --once (a real check)"
$FW --state-dir "$D/agents/this-machine" enroll --server "https://$AGENT_ADDR" --token "$(token)" --ca "$D/collector/ca.pem"
$FW --state-dir "$D/agents/this-machine" run --once

say "four simulated laptops of other owners on the same network (each its own key and enrollment)"
i=2
for owner in bob carol dave erin; do
  snap=detectors/kvm/testdata/snapshots/clean_docked_laptop.json
  case $owner in bob|dave) snap=detectors/kvm/testdata/snapshots/pikvm.json ;; esac
  dir="$D/agents/$owner"
  $FW --state-dir "$dir" enroll --server "https://$AGENT_ADDR" --token "$(token --owner "$owner@corp.example")" \
    --ca "$D/collector/ca.pem" --hostname "$(printf 'LT-%04d' $i)" > /dev/null
  printf '%s: ' "$owner@corp.example"
  $FW --state-dir "$dir" run --once --snapshot "$snap"
  i=$((i + 1))
done

say "waiting for fleet correlation"
for _ in $(seq 60); do
  if $FC alerts list --config "$CFG" --kind farm --json | grep -q '"kind": "farm"'; then break; fi
  sleep 0.5
done

say "farmwatch-collector devices list"
$FC devices list --config "$CFG"
say "farmwatch-collector alerts list"
$FC alerts list --config "$CFG"
say "the farm alert (farmwatch-collector alerts list --kind farm --json)"
$FC alerts list --config "$CFG" --kind farm --json

pw=$(sed -n 's/^  admin password *\([a-z0-9]*\).*/\1/p' "$D/init.txt")
say "console/API"
cat <<TXT
  API        https://$API_ADDR/api/v1/  (OpenAPI: https://$API_ADDR/api/v1/openapi.json)
  metrics    https://$API_ADDR/metrics
  admin      admin / $pw  (one-time password: change it first)
  try        curl --cacert $D/collector/ca.pem -u admin:$pw -H 'Content-Type: application/json' https://$API_ADDR/api/v1/me/password \\
               -d '{"current_password":"$pw","new_password":"a-new-long-password"}'
TXT
if [ "${CI:-}" = true ]; then
  echo "  (CI: collector stopped)"
else
  echo "  the collector keeps running (pid $(cat "$D/collector.pid")); stop it with: make demo-stop"
fi
