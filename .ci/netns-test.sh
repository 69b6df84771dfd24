#!/usr/bin/env bash
# netns-test.sh — the colocation detector's proof in network namespaces:
# the real farmwatch and farmwatch-collector binaries (CGO_ENABLED=0), three
# agents of one fleet, a host posing as a KVM appliance and a beacon forger
# on one bridge (detectors/colocation/netns). Needs root and iproute2;
# with CI=true their absence fails, elsewhere the test skips with a message.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$(id -u)" != 0 ] && [ "${CI:-}" != true ]; then
	echo "netns test skipped: it must run as root (ip netns needs CAP_NET_ADMIN and CAP_SYS_ADMIN); try: sudo make test-netns"
	exit 0
fi
if ! command -v ip >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q iproute2 >/dev/null
	elif [ "${CI:-}" != true ]; then
		echo "netns test skipped: iproute2 (the ip command) is not installed"
		exit 0
	fi
fi
exec go test -tags netns -count=1 -v -timeout 10m ./detectors/colocation/netns/
