#!/usr/bin/env bash
# Under Wine (issue 24 item 5): `taskkill /F` of a supervised Windows program (esbuild,
# a Go exe from npm) -> the new one answering, minus the backoff, split into the
# supervisor's share and process creation's, for the service host (SCM) and for
# `respawn run`, with plain `wine64 esbuild.exe` for scale. Kernel timestamps from the
# netlink proc connector: needs root. See bench/windows_restart.py for the split.
#
# Usage: sudo bench/windows-restart.sh [--kills N] [--backoff 1s] [--lanes service,run]
#
# Environment: RESPAWN_WIN_TARGET and WINEPREFIX as for scripts/windows-lane.sh (use
# your own prefix: the lane's `stop` at the end kills every process in it);
# RESPAWN_EXE a respawn.exe to measure (default: a release build of this checkout).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
lane="$repo/scripts/windows-lane.sh"
eval "$("$lane" env | grep '^export')"
if [[ -z "${RESPAWN_EXE:-}" ]]; then
    "$lane" build --bin respawn --bin respawnw >&2
    RESPAWN_EXE="$CARGO_TARGET_DIR/x86_64-pc-windows-gnu/release/respawn.exe"
fi
esbuild="$("$repo/scripts/windows-fixtures.sh")/esbuild.exe"
[[ -f "$esbuild" ]] || { echo "windows-restart.sh: no esbuild.exe (scripts/windows-fixtures.sh)" >&2; exit 1; }
# A persistent server, so the service outlives each `wine` call (docs/wine.md row k).
"$lane" wine cmd /c exit 0 >/dev/null 2>&1 || true
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), $(/usr/lib/wine/wine64 --version); load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
rc=0
python3 "$here/windows_restart.py" --respawn "$RESPAWN_EXE" --esbuild "$esbuild" "$@" || rc=$?
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit "$rc"
