#!/usr/bin/env bash
# Build Go packages' tests for windows/amd64 and run them under Wine.
#
#   bash .ci/wine-test.sh [PKG...]      (default: ./detectors/remoteaccess)
#
# Needs the prefix made by .ci/wine-setup.sh ("${WINEPREFIX:-<repo>/.cache/wine}").
# Each test binary runs with -test.v from its package directory, as go test
# does. A package fails when its binary exits non-zero, when any test fails,
# or when no test ran at all. Extra test flags: WINE_TEST_FLAGS="-test.run=X".
#
# CI defaults to true and is passed through (Wine hands the environment to
# Windows processes): under Wine the tests run as administrator, so none of
# them has a reason to skip, and with CI=true they fail instead of skipping.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WINEPREFIX="${WINEPREFIX:-$repo/.cache/wine}"
export WINEDEBUG="${WINEDEBUG:--all}"
export CI="${CI:-true}"

log() { printf 'wine-test: %s\n' "$*"; }
die() { printf 'wine-test: error: %s\n' "$*" >&2; exit 1; }

command -v wine >/dev/null || die "wine is not installed; run bash .ci/wine-setup.sh"
[[ -f $WINEPREFIX/system.reg ]] || die "no Wine prefix at $WINEPREFIX; run bash .ci/wine-setup.sh"
[[ -f $WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll ]] ||
	die "bcryptprimitives.dll stub missing from $WINEPREFIX; run bash .ci/wine-setup.sh"

pkgs=("$@")
[[ ${#pkgs[@]} -gt 0 ]] || pkgs=(./detectors/remoteaccess)
read -r -a extra_flags <<<"${WINE_TEST_FLAGS:-}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wine-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cd "$repo"
failed=0
summary=()
for pkg in "${pkgs[@]}"; do
	dir=$(go list -f '{{.Dir}}' "$pkg") || die "go list $pkg failed"
	name=$(go list -f '{{.ImportPath}}' "$pkg" | tr '/.' '__')
	exe="$tmp/$name.test.exe"
	out="$tmp/$name.log"

	start=$SECONDS
	if ! GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go test -c -o "$exe" "$pkg"; then
		summary+=("FAIL  $pkg: build failed")
		failed=1
		continue
	fi
	build_s=$((SECONDS - start))
	if [[ ! -f $exe ]]; then
		summary+=("FAIL  $pkg: no test files")
		failed=1
		continue
	fi

	log "running $pkg under Wine"
	start=$SECONDS
	rc=0
	(cd "$dir" && wine "$exe" -test.v -test.count=1 "${extra_flags[@]}") 2>&1 | tee "$out" || rc=$?
	run_s=$((SECONDS - start))

	ran=$(grep -cE '^=== RUN ' "$out" || true)
	passed=$(grep -cE '^ *--- PASS: ' "$out" || true)
	fails=$(grep -cE '^ *--- FAIL: ' "$out" || true)
	skipped=$(grep -cE '^ *--- SKIP: ' "$out" || true)
	counts="$ran run, $passed passed, $fails failed, $skipped skipped; build ${build_s}s, run ${run_s}s"
	if [[ $rc -ne 0 || $fails -gt 0 ]]; then
		summary+=("FAIL  $pkg ($counts; exit $rc)")
		failed=1
	elif [[ $ran -eq 0 ]]; then
		summary+=("FAIL  $pkg: no tests ran")
		failed=1
	else
		summary+=("ok    $pkg ($counts)")
	fi
done

printf '\n'
for line in "${summary[@]}"; do
	log "$line"
done
exit "$failed"
