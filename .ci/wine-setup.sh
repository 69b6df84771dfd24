#!/usr/bin/env bash
# Prepare a headless Wine prefix that runs Go windows/amd64 test binaries.
#
#   bash .ci/wine-setup.sh
#
# Idempotent: installs wine and MinGW only when missing, creates the prefix
# only when absent, and rebuilds/reinstalls the bcryptprimitives.dll stub only
# when it changed. The prefix is "${WINEPREFIX:-<repo>/.cache/wine}".
#
# Why the stub: Go >= 1.22 imports ProcessPrng from bcryptprimitives.dll, which
# Wine 8 (Debian bookworm) lacks, so every Go binary dies before main. See
# .ci/wine/bcryptprimitives.c and reference/feasibility.md section 4.1.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WINEPREFIX="${WINEPREFIX:-$repo/.cache/wine}"
export WINEDEBUG="${WINEDEBUG:--all}"
build_dir="$repo/.cache/wine-build"
stub_src="$repo/.ci/wine/bcryptprimitives.c"
stub_def="$repo/.ci/wine/bcryptprimitives.def"
stub_dll="$build_dir/bcryptprimitives.dll"

log() { printf 'wine-setup: %s\n' "$*"; }
die() { printf 'wine-setup: error: %s\n' "$*" >&2; exit 1; }

# apt_get runs apt-get as root, waiting (up to about five minutes) while
# another apt or dpkg process holds the lock.
apt_get() {
	local -a sudo=()
	if [[ $EUID -ne 0 ]]; then
		command -v sudo >/dev/null || die "need root (or sudo) to install: apt-get $*"
		sudo=(sudo)
	fi
	local attempt out
	out=$(mktemp)
	for attempt in $(seq 1 20); do
		if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
			apt-get -q -o DPkg::Lock::Timeout=15 "$@" >"$out" 2>&1; then
			tail -n 2 "$out"
			rm -f "$out"
			return 0
		fi
		if ! grep -qiE 'could not get lock|unable to acquire|unable to lock' "$out"; then
			cat "$out" >&2
			rm -f "$out"
			die "apt-get $* failed"
		fi
		log "apt is locked by another process; retrying in 15 s (attempt $attempt/20)"
		sleep 15
	done
	cat "$out" >&2
	rm -f "$out"
	die "apt-get $*: lock still held after 20 attempts"
}

# 1. Packages.
if command -v wine >/dev/null && command -v x86_64-w64-mingw32-gcc >/dev/null; then
	log "packages: wine and x86_64-w64-mingw32-gcc already installed"
else
	log "packages: installing wine64 wine gcc-mingw-w64-x86-64-win32"
	apt_get update
	apt_get install -y --no-install-recommends wine64 wine gcc-mingw-w64-x86-64-win32
	command -v wine >/dev/null || die "wine still missing after install"
	command -v x86_64-w64-mingw32-gcc >/dev/null || die "x86_64-w64-mingw32-gcc still missing after install"
fi
log "wine: $(wine --version 2>/dev/null)"

# 2. Prefix. mscoree/mshtml are disabled so wineboot never asks to install
# Mono or Gecko (there is no display to ask on, and no network to fetch them).
if [[ -f $WINEPREFIX/system.reg ]]; then
	log "prefix: $WINEPREFIX already initialised"
else
	log "prefix: creating $WINEPREFIX"
	mkdir -p "$WINEPREFIX"
	start=$SECONDS
	# Without wine32, wineboot prints "failed to open ...syswow64\rundll32.exe"
	# (and wine may warn "wine32 is missing"): harmless, only 64-bit binaries
	# run here.
	WINEDLLOVERRIDES="mscoree,mshtml=" wine wineboot -i
	wineserver -w
	[[ -f $WINEPREFIX/system.reg ]] || die "wineboot did not create $WINEPREFIX/system.reg"
	log "prefix: created in $((SECONDS - start)) s"
fi
system32="$WINEPREFIX/drive_c/windows/system32"
[[ -d $system32 ]] || die "prefix has no $system32"

# 3. bcryptprimitives.dll stub.
mkdir -p "$build_dir"
if [[ -f $stub_dll && $stub_dll -nt $stub_src && $stub_dll -nt $stub_def ]]; then
	log "stub: $stub_dll up to date"
else
	log "stub: compiling $stub_dll"
	x86_64-w64-mingw32-gcc -O2 -Wall -shared -o "$stub_dll" "$stub_src" "$stub_def" -ladvapi32
fi
if cmp -s "$stub_dll" "$system32/bcryptprimitives.dll"; then
	log "stub: $system32/bcryptprimitives.dll already installed"
else
	cp "$stub_dll" "$system32/bcryptprimitives.dll"
	log "stub: installed $system32/bcryptprimitives.dll"
fi

log "ready: WINEPREFIX=$WINEPREFIX; run tests with bash .ci/wine-test.sh"
