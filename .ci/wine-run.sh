#!/usr/bin/env bash
# make test-wine: run the Windows code of every package that has some
# (files named *_windows.go) for real under Wine.
#
# In CI (CI=true) a missing Wine is installed, and any failure fails the
# run. Outside CI, on a machine where Wine is absent and cannot be
# installed (not root), the tests are skipped with a message.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if [[ ${CI:-} != true ]] && ! command -v wine >/dev/null && [[ $(id -u) -ne 0 ]]; then
	echo "test-wine: SKIPPED: Wine is not installed and installing it needs root (CI installs it; see .ci/wine-setup.sh)"
	exit 0
fi

mapfile -t pkgs < <(git ls-files '*_windows.go' | xargs -r -n1 dirname | sort -u | sed 's|^|./|')
if [[ ${#pkgs[@]} -eq 0 ]]; then
	echo "test-wine: error: no package has Windows code" >&2
	exit 1
fi
bash .ci/wine-setup.sh
bash .ci/wine-test.sh "${pkgs[@]}"
